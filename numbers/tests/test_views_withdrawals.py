"""The withdrawal screens: thin over the services, scoped to the branch, POST and redirect."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from numbers import services
from numbers.choices import NumberStatus, WithdrawalGround, WithdrawalState
from numbers.models import MobileNumber, WithdrawalRequest

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)


def order_pdf():
    return SimpleUploadedFile("order.pdf", b"%PDF-1.4 order", content_type="application/pdf")


@pytest.fixture
def asked(active, supervisor_a):
    return services.withdrawal_request(
        number=active, ground=WithdrawalGround.LEGAL_ORDER, document=order_pdf(), actor=supervisor_a, reason="order"
    )


def test_an_agent_requests_a_withdrawal_from_the_screen(client, agent_a, active, holder):
    client.force_login(agent_a)
    page = client.get(f"/withdrawals/new/?msisdn={active.msisdn}")
    assert page.status_code == 200
    response = client.post(
        "/withdrawals/new/",
        {"msisdn": active.msisdn, "ground": WithdrawalGround.DEATH, "document": order_pdf(), "reason": "Death"},
    )
    withdrawal = WithdrawalRequest.objects.get(number=active)
    assert response.status_code == 302 and response["Location"] == f"/withdrawals/{withdrawal.pk}/"
    assert (withdrawal.ground, withdrawal.requested_by) == (WithdrawalGround.DEATH, agent_a)


def test_a_refused_request_says_why_and_records_nothing(client, agent_a, active):
    client.force_login(agent_a)
    response = client.post(
        "/withdrawals/new/", {"msisdn": active.msisdn, "ground": WithdrawalGround.LEGAL_ORDER, "reason": "no file"}
    )
    assert response.status_code == 200
    assert "Upload the signed consent form" in response.content.decode() or response.context["form"].errors
    assert not WithdrawalRequest.objects.exists()


def test_a_number_of_another_branch_is_not_found(client, agent_c, active):
    client.force_login(agent_c)
    response = client.post(
        "/withdrawals/new/",
        {"msisdn": active.msisdn, "ground": WithdrawalGround.DEATH, "document": order_pdf(), "reason": "x"},
    )
    assert "msisdn" in response.context["form"].errors
    assert not WithdrawalRequest.objects.exists()


def test_the_list_is_for_supervisors_of_the_branch(client, agent_a, supervisor_a2, supervisor_b, asked):
    client.force_login(agent_a)
    assert client.get("/withdrawals/").status_code == 403
    client.force_login(supervisor_b)
    assert asked.reference not in client.get("/withdrawals/").content.decode()
    assert client.get(f"/withdrawals/{asked.pk}/").status_code == 403
    client.force_login(supervisor_a2)
    assert asked.reference in client.get("/withdrawals/").content.decode()


def test_the_second_supervisor_approves_on_the_decision_page(client, supervisor_a, supervisor_a2, asked, active):
    client.force_login(supervisor_a)
    page = client.get(f"/withdrawals/{asked.pk}/")
    assert "You made this request" in page.content.decode()
    client.post(f"/withdrawals/{asked.pk}/approve/", {"approve-reason": "mine"})
    assert WithdrawalRequest.objects.get(pk=asked.pk).state == WithdrawalState.AWAITING_APPROVAL

    client.force_login(supervisor_a2)
    response = client.post(f"/withdrawals/{asked.pk}/approve/", {"approve-reason": "Order checked"})
    assert response.status_code == 302
    assert WithdrawalRequest.objects.get(pk=asked.pk).state == WithdrawalState.EXECUTED
    assert MobileNumber.objects.get(pk=active.pk).status == NumberStatus.AGING


def test_an_agent_cannot_post_a_decision(client, agent_b, asked):
    client.force_login(agent_b)
    assert client.post(f"/withdrawals/{asked.pk}/approve/", {"approve-reason": "x"}).status_code == 403
    assert client.post(f"/withdrawals/{asked.pk}/reject/", {"reject-reason": "x"}).status_code == 403
    assert WithdrawalRequest.objects.get(pk=asked.pk).state == WithdrawalState.AWAITING_APPROVAL


def test_the_document_is_served_only_to_the_branchs_counter_staff(client, agent_a, auditor, asked):
    client.force_login(auditor)
    assert client.get(f"/withdrawals/{asked.pk}/document/").status_code == 403
    client.force_login(agent_a)
    response = client.get(f"/withdrawals/{asked.pk}/document/")
    assert response.status_code == 200 and response["Cache-Control"] == "private, no-store"


def test_the_number_page_links_to_the_request(client, supervisor_a, active):
    client.force_login(supervisor_a)
    page = client.get(f"/admin/numbers/mobilenumber/{active.pk}/change/").content.decode()
    assert f"/withdrawals/new/?msisdn=%2B{active.msisdn[1:]}" in page


def test_the_admin_shows_withdrawal_requests_read_only(client, admin_user, asked):
    client.force_login(admin_user)
    url = f"/admin/numbers/withdrawalrequest/{asked.pk}/change/"
    assert client.get(url).status_code == 200
    assert client.get(f"/admin/numbers/withdrawalrequest/{asked.pk}/delete/").status_code == 403
    assert client.get("/admin/numbers/withdrawalrequest/add/").status_code == 403
