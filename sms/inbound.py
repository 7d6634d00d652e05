"""Routing the messages subscribers send: a keyword, then a handler.

The sms app knows no domain: higher apps register the keywords they answer in
their ``AppConfig.ready()`` (numbers registers "NO" to stop a transfer), as
``django.contrib.admin`` discovers ``admin.py`` modules. A handler refuses with
ValidationError or PermissionDenied; what it wrote is then rolled back and the
refusal is the answer. An unknown keyword is stored and answered, never an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from .choices import InboundStatus


@dataclass(frozen=True)
class Reply:
    status: str
    answer: str


# handler(*, sender: str, argument: str, text: str) -> str (what was done)
Handler = Callable[..., str]

_keywords: dict[str, Handler] = {}


def register_keyword(keyword: str, handler: Handler) -> None:
    keyword = keyword.strip().upper()
    if _keywords.get(keyword, handler) is not handler:
        raise ValueError(f"The SMS keyword {keyword} is already answered by another handler.")
    _keywords[keyword] = handler


def registered_keywords() -> list[str]:
    return sorted(_keywords)


def split_keyword(text: str) -> tuple[str, str]:
    keyword, _, argument = (text or "").strip().partition(" ")
    return keyword.upper()[:20], argument.strip()


def route(*, sender: str, text: str) -> Reply:
    keyword, argument = split_keyword(text)
    handler = _keywords.get(keyword)
    if handler is None:
        known = ", ".join(registered_keywords()) or "none"
        return Reply(InboundStatus.UNKNOWN_KEYWORD, f"Keyword {keyword or '(empty)'!r} not understood; known: {known}.")
    try:
        with transaction.atomic():
            return Reply(InboundStatus.HANDLED, handler(sender=sender, argument=argument, text=text))
    except ValidationError as exc:
        return Reply(InboundStatus.REFUSED, " ".join(exc.messages))
    except PermissionDenied as exc:
        return Reply(InboundStatus.REFUSED, str(exc) or "Not allowed.")
