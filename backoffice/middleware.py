"""Middleware every app relies on."""

from __future__ import annotations

from django.utils.cache import add_never_cache_headers, patch_cache_control


class NoStoreForStaffMiddleware:
    """No page a signed-in employee saw stays in the browser.

    Counter PCs are shared: after sign-out (or an idle timeout) the Back button must
    not bring a subscriber's page back from the browser's cache. The admin marks its
    own pages; the staff screens and the review did not. A response that already says
    ``no-store`` (evidence files) keeps its own header.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and "no-store" not in response.get("Cache-Control", ""):
            add_never_cache_headers(response)
            patch_cache_control(response, private=True)
        return response
