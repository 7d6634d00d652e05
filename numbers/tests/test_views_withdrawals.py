"""The withdrawal screens: thin over the services, scoped to the branch, POST and redirect."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from numbers import services
from numbers.choices import IdentityDocumentType, NumberStatus, WithdrawalGround, WithdrawalState
from numbers.models import MobileNumber, WithdrawalRequest
from tests.factories import PNG_BYTES, document_photo
from tests.helpers import back_date

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


# --- The holder in person, and the number given back -------------------------------


def _messages(response) -> str:
    return " ".join(str(m) for m in get_messages(response.wsgi_request))


def _in_person_post(client, withdrawal, number: str = "N0123456"):
    return client.post(
        f"/withdrawals/{withdrawal.pk}/in-person/",
        {
            "inperson-document_type": IdentityDocumentType.NATIONAL_ID,
            "inperson-document_number": number,
            "inperson-document_photo": document_photo(),
            "inperson-reason": "SIM lost, the holder at the counter",
        },
    )


@pytest.fixture
def holder_asked(active, agent_a):
    return services.withdrawal_request(
        number=active, ground=WithdrawalGround.HOLDER_REQUEST, actor=agent_a, reason="The holder ends the contract"
    )


def test_the_holder_in_person_is_checked_then_confirmed_by_a_colleague_on_the_page(
    client, agent_a, agent_b, auditor, supervisor_a, admin_user, holder_asked
):
    client.force_login(agent_a)
    assert 'id="in-person-form"' in client.get(f"/withdrawals/{holder_asked.pk}/").content.decode()
    response = _in_person_post(client, holder_asked, number="N9999999")
    assert "does not match" in _messages(response)
    assert WithdrawalRequest.objects.get(pk=holder_asked.pk).holder_checked_at is None
    _in_person_post(client, holder_asked)
    assert WithdrawalRequest.objects.get(pk=holder_asked.pk).holder_checked_by == agent_a
    assert 'id="confirm-check-form"' not in client.get(f"/withdrawals/{holder_asked.pk}/").content.decode()
    response = client.post(f"/withdrawals/{holder_asked.pk}/confirm-check/", {"confirmcheck-reason": "me"})
    assert "another employee" in _messages(response)
    assert client.get(f"/withdrawals/{holder_asked.pk}/photo/").status_code == 403  # not a reviewer
    client.force_login(admin_user)
    assert (
        client.post(f"/withdrawals/{holder_asked.pk}/confirm-check/", {"confirmcheck-reason": "x"}).status_code == 403
    )
    client.force_login(agent_b)
    assert 'id="confirm-check-form"' in client.get(f"/withdrawals/{holder_asked.pk}/").content.decode()
    response = client.post(f"/withdrawals/{holder_asked.pk}/confirm-check/", {"confirmcheck-reason": "saw her"})
    assert "cannot be approved before" in _messages(response)
    fresh = WithdrawalRequest.objects.get(pk=holder_asked.pk)
    assert (fresh.state, fresh.holder_check_confirmed_by) == (WithdrawalState.AWAITING_APPROVAL, agent_b)
    client.force_login(supervisor_a)
    assert "cannot be approved before" in client.get(f"/withdrawals/{holder_asked.pk}/").content.decode()
    client.force_login(auditor)
    photo = client.get(f"/withdrawals/{holder_asked.pk}/photo/")
    assert photo.status_code == 200 and b"".join(photo.streaming_content) == PNG_BYTES


@pytest.fixture
def withdrawn_by_holder(holder_asked, agent_a, agent_b, supervisor_a):
    services.withdrawal_record_holder_in_person(
        request=holder_asked,
        document_type=IdentityDocumentType.NATIONAL_ID,
        document_number="N0123456",
        document_photo=document_photo(),
        actor=agent_a,
        reason="SIM lost",
    )
    services.withdrawal_confirm_holder_check(request=holder_asked, actor=agent_b, reason="saw her")
    back_date(
        WithdrawalRequest,
        holder_asked.pk,
        holder_notified_at=timezone.now() - timedelta(hours=settings.TRANSFER_COOLING_OFF_HOURS + 1),
    )
    return services.withdrawal_approve(request=holder_asked, actor=supervisor_a, reason="Checked, cooled off")


def test_a_supervisor_gives_the_number_back_to_its_last_holder(client, supervisor_a, withdrawn_by_holder, holder):
    client.force_login(supervisor_a)
    assert 'id="reinstate-form"' in client.get(f"/withdrawals/{withdrawn_by_holder.pk}/").content.decode()
    response = client.post(
        f"/withdrawals/{withdrawn_by_holder.pk}/reinstate/",
        {"reinstate-subscriber": holder.pk, "reinstate-reason": "The holder found the SIM and changed their mind"},
    )
    assert response.status_code == 302 and "is back with" in _messages(response)
    number = MobileNumber.objects.get(pk=withdrawn_by_holder.number_id)
    assert (number.status, number.holder_id) == (NumberStatus.ACTIVE, holder.pk)


def test_the_number_goes_back_to_nobody_else_and_not_by_an_agent(
    client, agent_a, supervisor_a, withdrawn_by_holder, holder, newcomer
):
    url = f"/withdrawals/{withdrawn_by_holder.pk}/reinstate/"
    client.force_login(agent_a)
    assert 'id="reinstate-form"' not in client.get(f"/withdrawals/{withdrawn_by_holder.pk}/").content.decode()
    assert client.post(url, {"reinstate-subscriber": holder.pk, "reinstate-reason": "x"}).status_code == 403
    client.force_login(supervisor_a)
    response = client.post(url, {"reinstate-subscriber": newcomer.pk, "reinstate-reason": "a friend of hers"})
    assert "refused" in _messages(response) and "not the last holder" in _messages(response)
    number = MobileNumber.objects.get(pk=withdrawn_by_holder.number_id)
    assert (number.status, number.holder_id) == (NumberStatus.AGING, None)
