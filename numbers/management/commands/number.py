"""Operate on one number from the command line, through the same services as the
screens: ``show``, ``move``, ``sell`` and ``topup``. Every write names the acting
employee and a reason; a refused change prints why and exits non-zero."""

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from backoffice.msisdn import normalize_msisdn
from numbers import services
from numbers.choices import NumberStatus
from numbers.models import MobileNumber, Subscriber
from numbers.selectors import subscriber_by_document


class Command(BaseCommand):
    help = "Show, move, sell or record a top-up for one number, through the number services."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        show = sub.add_parser("show", help="Print a number's state and holdings.")
        show.add_argument("msisdn")
        for name, helptext in (
            ("move", "Move a number to another lifecycle state."),
            ("sell", "Sell an available or reserved number to a subscriber."),
            ("topup", "Record a top-up or payment."),
        ):
            verb = sub.add_parser(name, help=helptext)
            verb.add_argument("msisdn")
            if name == "move":
                verb.add_argument("status", choices=NumberStatus.values)
            if name == "sell":
                verb.add_argument("--subscriber", required=True, help="Subscriber id, or TYPE:DOCUMENT")
            verb.add_argument("--actor", required=True, help="User name of the employee acting")
            verb.add_argument("--reason", required=True)

    def handle(self, *args, **options):
        try:
            msisdn = normalize_msisdn(options["msisdn"])
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        number = MobileNumber.objects.select_related("holder", "branch").filter(msisdn=msisdn).first()
        if number is None:
            raise CommandError(f"{msisdn} is not in the inventory.")
        verb = options["verb"]
        if verb == "show":
            self._show(number)
            return
        actor = get_user_model().objects.filter(username=options["actor"]).first()
        if actor is None:
            raise CommandError(f"No user named {options['actor']}.")
        try:
            if verb == "move":
                number = services.number_transition(
                    number=number, to_status=options["status"], actor=actor, reason=options["reason"]
                )
            elif verb == "sell":
                subscriber = self._subscriber(options["subscriber"])
                number = services.number_sell(
                    number=number, subscriber=subscriber, actor=actor, reason=options["reason"]
                )
            else:
                number = services.number_record_topup(number=number, actor=actor, reason=options["reason"])
        except (ValidationError, PermissionDenied) as exc:
            text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            raise CommandError(f"Refused, nothing changed: {text}") from exc
        self._show(number)

    def _subscriber(self, ref: str) -> Subscriber:
        if ref.isdigit():
            subscriber = Subscriber.objects.filter(pk=int(ref)).first()
        else:
            doc_type, _, document = ref.partition(":")
            subscriber = subscriber_by_document(document_type=doc_type, document_number=document)
        if subscriber is None:
            raise CommandError(f"No subscriber {ref}.")
        return subscriber

    def _show(self, number: MobileNumber) -> None:
        number.refresh_from_db()
        holder = number.holder or "nobody"
        self.stdout.write(f"{number.msisdn} {number.status} held by {holder} (branch {number.branch.code})")
        for holding in number.holdings.select_related("subscriber").order_by("started_at"):
            end = f"{holding.ended_at:%Y-%m-%d} ({holding.end_reason})" if holding.ended_at else "now"
            self.stdout.write(
                f"  {holding.started_at:%Y-%m-%d} ({holding.start_reason}) to {end}: {holding.subscriber}"
            )
