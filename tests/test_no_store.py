"""A shared counter PC keeps no page an employee saw: Back after sign-out shows nothing."""

import pytest
from django.urls import reverse


@pytest.mark.parametrize(
    ("persona", "url_name"),
    [
        ("agent_a", "numbers:transfer_list"),
        ("supervisor_a", "numbers:approval_queue"),
        ("handler_a", "complaints:complaint_list"),
        ("auditor", "audit:review"),
        ("agent_a", "admin:index"),
    ],
)
def test_a_signed_in_page_is_never_stored(db, request, client, persona, url_name):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(reverse(url_name))
    assert response.status_code == 200
    cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"no-store", "no-cache", "private"} <= cache_control
