"""Views of a subscriber's identity and contact details are on the access log, from
every staff screen that shows them: one event per subscriber shown, naming who looked
and in which request; a refused page writes none."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audit.chain import verify_table
from audit.choices import AccessKind
from audit.models import AccessEvent
from numbers import services
from numbers.choices import WithdrawalGround

pytestmark = pytest.mark.django_db


def views_of(response) -> list[tuple]:
    """The subscriber views written by ``response``'s request: (user, subscriber) pairs."""
    events = AccessEvent.objects.filter(kind=AccessKind.SUBSCRIBER, history_request_id=response["X-Request-ID"])
    return sorted(events.values_list("user_id", "subscriber_id"))


def subscriber_views() -> int:
    return AccessEvent.objects.filter(kind=AccessKind.SUBSCRIBER).count()


def refused(client, url: str) -> int:
    """The status of a refused GET, after checking it wrote no subscriber view."""
    before = subscriber_views()
    status = client.get(url).status_code
    assert subscriber_views() == before
    return status


# --- Transfer request and approval pages ---------------------------------------------


def test_the_transfer_page_logs_the_holder_and_the_new_subscriber(client, agent_b, open_request, holder, newcomer):
    client.force_login(agent_b)
    response = client.get(reverse("numbers:transfer_detail", args=[open_request.pk]))
    assert response.status_code == 200
    assert views_of(response) == sorted([(agent_b.pk, holder.pk), (agent_b.pk, newcomer.pk)])
    assert verify_table(AccessEvent)[1] is None


def test_a_refused_transfer_page_logs_nothing(client, agent_c, open_request):
    client.force_login(agent_c)  # another branch
    assert refused(client, reverse("numbers:transfer_detail", args=[open_request.pk])) == 403
    assert refused(client, reverse("numbers:transfer_detail", args=[open_request.pk + 999])) == 404


def test_the_approval_page_logs_both_subscribers(client, supervisor_a, open_request, holder, newcomer):
    client.force_login(supervisor_a)
    response = client.get(reverse("numbers:approval_detail", args=[open_request.pk]))
    assert response.status_code == 200
    assert views_of(response) == sorted([(supervisor_a.pk, holder.pk), (supervisor_a.pk, newcomer.pk)])


def test_a_refused_approval_page_logs_nothing(client, agent_a, supervisor_b, open_request):
    url = reverse("numbers:approval_detail", args=[open_request.pk])
    for user in (agent_a, supervisor_b):  # not a supervisor; a supervisor of another branch
        client.force_login(user)
        assert refused(client, url) == 403


# --- Withdrawal page ---------------------------------------------------------------------


@pytest.fixture
def withdrawal(active, supervisor_a):
    order = SimpleUploadedFile("order.pdf", b"%PDF-1.4 order", content_type="application/pdf")
    return services.withdrawal_request(
        number=active, ground=WithdrawalGround.LEGAL_ORDER, document=order, actor=supervisor_a, reason="order"
    )


def test_the_withdrawal_page_logs_the_holder(client, agent_a, withdrawal, holder):
    client.force_login(agent_a)
    response = client.get(reverse("numbers:withdrawal_detail", args=[withdrawal.pk]))
    assert response.status_code == 200
    assert views_of(response) == [(agent_a.pk, holder.pk)]


def test_a_refused_withdrawal_page_logs_nothing(client, supervisor_b, withdrawal):
    client.force_login(supervisor_b)
    assert refused(client, reverse("numbers:withdrawal_detail", args=[withdrawal.pk])) == 403
    assert refused(client, reverse("numbers:withdrawal_detail", args=[withdrawal.pk + 999])) == 404


# --- The number's admin page and the subscriber search ---------------------------------


def test_the_number_page_logs_its_holder(client, admin_user, active, holder):
    client.force_login(admin_user)  # a superuser too
    response = client.get(reverse("admin:numbers_mobilenumber_change", args=[active.pk]))
    assert response.status_code == 200
    assert views_of(response) == [(admin_user.pk, holder.pk)]


def test_a_number_of_another_branch_logs_nothing(client, agent_c, active):
    client.force_login(agent_c)
    # Out of the user's scope the admin answers as for an unknown number: back to the index.
    assert refused(client, reverse("admin:numbers_mobilenumber_change", args=[active.pk])) == 302


def test_a_free_number_page_logs_nothing(client, agent_a, branch_a):
    from tests.factories import MobileNumberFactory

    number = MobileNumberFactory(branch=branch_a)
    client.force_login(agent_a)
    response = client.get(reverse("admin:numbers_mobilenumber_change", args=[number.pk]))
    assert response.status_code == 200
    assert views_of(response) == []


def test_subscriber_search_results_are_logged(client, agent_a, holder, newcomer, active):
    client.force_login(agent_a)
    response = client.get(reverse("admin:numbers_subscriber_changelist"), {"q": active.msisdn})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [holder]
    assert views_of(response) == [(agent_a.pk, holder.pk)]


def test_a_search_without_results_or_refused_logs_nothing(client, agent_a, holder, django_user_model):
    client.force_login(agent_a)
    response = client.get(reverse("admin:numbers_subscriber_changelist"), {"q": "Nobody Here"})
    assert response.status_code == 200 and views_of(response) == []
    staff_without_rights = django_user_model.objects.create_user("no_rights", is_staff=True)
    client.force_login(staff_without_rights)
    assert refused(client, reverse("admin:numbers_subscriber_changelist") + f"?q={holder.full_name}") == 403
