"""Sign-ins, failed sign-ins and sign-outs go on the access log; Celery job runs get a request id."""

from __future__ import annotations

from collections.abc import Iterable

from celery.signals import task_postrun, task_prerun
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from simple_history.models import HistoricalRecords

from . import context
from .choices import AccessKind

_job_scopes: dict[str, object] = {}


def _client(request) -> tuple[str | None, str]:
    if request is None:
        return None, ""
    meta = getattr(request, "META", {})
    return meta.get("REMOTE_ADDR") or None, (meta.get("HTTP_USER_AGENT") or "")[:300]


def record_access(*, kind: str, request, user=None, username: str = "", subscriber=None) -> None:
    from .models import AccessEvent

    ip, agent = _client(request)
    AccessEvent.objects.create(
        kind=kind,
        user=user,
        username=(username or (user.get_username() if user else ""))[:150],
        ip_address=ip,
        user_agent=agent,
        subscriber=subscriber,
        history_request_id=getattr(request, "request_id", "") or context.current_request_id() or "",
    )


def record_subscriber_view(*, request, subscriber) -> None:
    """A screen showed this subscriber's identity and contact details to the signed-in user."""
    record_access(kind=AccessKind.SUBSCRIBER, request=request, user=request.user, subscriber=subscriber)


def record_subscriber_views(*, request, subscribers: Iterable) -> None:
    """A screen showed several subscribers' identity or contact details: one event for each
    distinct subscriber (given as a Subscriber or its id), written in one insert."""
    from .models import AccessEvent

    ids = list(dict.fromkeys(getattr(s, "pk", s) for s in subscribers if s is not None))
    ids = [pk for pk in ids if pk is not None]
    if not ids:
        return
    ip, agent = _client(request)
    request_id = getattr(request, "request_id", "") or context.current_request_id() or ""
    user = request.user
    AccessEvent.objects.bulk_create(
        [
            AccessEvent(
                kind=AccessKind.SUBSCRIBER,
                user=user,
                username=user.get_username()[:150],
                ip_address=ip,
                user_agent=agent,
                subscriber_id=pk,
                history_request_id=request_id,
            )
            for pk in ids
        ]
    )


@receiver(user_logged_in, dispatch_uid="audit_login")
def _logged_in(sender, request, user, **kwargs):
    record_access(kind=AccessKind.LOGIN, request=request, user=user)


@receiver(user_logged_out, dispatch_uid="audit_logout")
def _logged_out(sender, request, user, **kwargs):
    if user is not None:
        record_access(kind=AccessKind.LOGOUT, request=request, user=user)


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def _login_failed(sender, credentials, request=None, **kwargs):
    from django.contrib.auth import get_user_model

    User = get_user_model()
    username = str(credentials.get(User.USERNAME_FIELD) or credentials.get("username") or "")
    user = User._default_manager.filter(**{User.USERNAME_FIELD: username}).first() if username else None
    record_access(kind=AccessKind.LOGIN_FAILED, request=request, user=user, username=username)


@task_prerun.connect(dispatch_uid="audit_job_start")
def _job_started(task_id=None, task=None, **kwargs):
    """A job run is its own actor: its changes are grouped under the task id."""
    scope = context.job_scope(task.name, request_id=(task_id or "").replace("-", "") or None)
    scope.__enter__()
    # A task run eagerly inside a request (no broker) is still the job's doing, not
    # the signed-in user's: hide the request simple-history would take the user from.
    request = getattr(HistoricalRecords.context, "request", None)
    if request is not None:
        del HistoricalRecords.context.request
    _job_scopes[task_id] = (scope, request)


@task_postrun.connect(dispatch_uid="audit_job_end")
def _job_ended(task_id=None, **kwargs):
    scope, request = _job_scopes.pop(task_id, (None, None))
    if scope is not None:
        scope.__exit__(None, None, None)
    if request is not None:
        HistoricalRecords.context.request = request
