"""The register of permanent disconnections, as banks and others ask it before texting."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required

from backoffice.screens import render_screen

from .. import selectors
from ..forms import DisconnectionCheckForm
from .common import require_somewhere


@login_required
def disconnection_check(request):
    """The register of permanent disconnections, as banks and others ask it before texting."""
    require_somewhere(request.user, "view_branch_numbers")
    form = DisconnectionCheckForm(request.GET or None)
    answer = selectors.disconnection_check(**form.cleaned_data) if form.is_valid() else None
    return render_screen(
        request,
        "numbers/disconnections/check.html",
        {"title": "Disconnection register", "form": form, "answer": answer},
    )
