"""Defence in depth: a session whose account may no longer work is ended at once.

The suspension services end the sessions they know of; this ends the rest,
whatever changed the account (a raw database write included), on its next
request. The sign-in backend (staff.backends) already refuses to load such an
account from its session, so ``request.user`` is anonymous then; the session
itself is ended here, and the sign-out goes on the access log.
"""

from __future__ import annotations

from django.contrib.auth import SESSION_KEY, get_user_model, logout

from .selectors import is_working


class SignOutSuspendedMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if SESSION_KEY in request.session:
            user = request.user
            if not user.is_authenticated or not is_working(user):
                if not user.is_authenticated:
                    stale = get_user_model()._default_manager.filter(pk=request.session[SESSION_KEY]).first()
                    request.user = stale or user
                logout(request)
        return self.get_response(request)
