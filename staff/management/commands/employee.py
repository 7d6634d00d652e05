"""Suspend or reinstate an employee from the command line, through the same services
as the audit review: ``manage.py employee suspend USER --actor AUDITOR --reason ...``.
A refusal prints why and exits non-zero; nothing here writes the status itself."""

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from staff import services


class Command(BaseCommand):
    help = "Suspend (sign out everywhere, disable the login, take the grants) or reinstate an employee."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        for name, helptext in (
            ("suspend", "Suspend an employee pending review."),
            ("reinstate", "Give back what the open suspension took."),
        ):
            verb = sub.add_parser(name, help=helptext)
            verb.add_argument("username", help="User name of the employee")
            verb.add_argument("--actor", required=True, help="User name of the auditor or administrator acting")
            verb.add_argument("--reason", required=True)

    def handle(self, *args, verb, username, actor, reason, **options):
        users = get_user_model().objects
        user = users.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username}.")
        acting = users.filter(username=actor).first()
        if acting is None:
            raise CommandError(f"No user named {actor}.")
        service = services.employee_suspend if verb == "suspend" else services.employee_reinstate
        try:
            suspension = service(user=user, actor=acting, reason=reason)
        except (ValidationError, PermissionDenied) as exc:
            text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            raise CommandError(f"Refused, nothing changed: {text}") from exc
        if verb == "suspend":
            self.stdout.write(
                f"{username} is suspended: login disabled, {suspension.sessions_ended} session(s) ended, "
                f"{len(suspension.object_permissions_removed)} grant(s) taken."
            )
        else:
            self.stdout.write(f"{username} is reinstated.")
