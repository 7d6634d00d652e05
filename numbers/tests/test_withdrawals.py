"""The recycle path, closed: no employee withdraws a held number by hand, quarantine
holds for everyone (service and database), only the last holder has a number back
during quarantine, and a transfer lock survives everything but its own lift."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from demo.numbers_seed import withdraw_as_lifecycle
from numbers import services
from numbers.choices import (
    HoldingEndReason,
    HoldingStartReason,
    IdentityDocumentType,
    NumberStatus,
    WithdrawalGround,
    WithdrawalState,
)
from numbers.exceptions import IllegalMove
from numbers.models import Holding, MobileNumber, TransferLock, WithdrawalRequest, service_write_scope
from sms.choices import SmsPurpose
from tests.factories import SubscriberFactory, document_photo, number_in_state
from tests.helpers import back_date, code_sent_to, ledger_rewrite_allowed, refused, with_sms
from tests.snapshots import number_snapshot

pytestmark = pytest.mark.django_db


def order_pdf(name: str = "court-order.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"%PDF-1.4 a court order", content_type="application/pdf")


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)


def legal_order(number, actor) -> WithdrawalRequest:
    return services.withdrawal_request(
        number=number,
        ground=WithdrawalGround.LEGAL_ORDER,
        document=order_pdf(),
        actor=actor,
        reason="Court order 12/2026 on a fraud line",
    )


def state_of(number) -> tuple:
    fresh = MobileNumber.objects.get(pk=number.pk)
    return fresh.status, fresh.holder_id


# --- No withdrawal by a status change, whoever asks ---------------------------------------


@pytest.mark.parametrize("held", [NumberStatus.ACTIVE, NumberStatus.SUSPENDED])
@pytest.mark.parametrize("who", ["supervisor_a", "admin_user"])
def test_nobody_withdraws_a_held_number_with_a_status_change(request, agent_a, branch_a, held, who):
    actor = request.getfixturevalue(who)
    number = number_in_state(held, actor=agent_a, branch=branch_a)
    before = number_snapshot(number)
    error = refused(
        IllegalMove,
        lambda: services.number_transition(number=number, to_status=NumberStatus.WITHDRAWN, actor=actor, reason="x"),
    )
    assert error.code == "withdrawal_needs_request"
    assert "Request a withdrawal instead" in error.messages[0]
    assert number_snapshot(number) == before


def test_an_agent_is_refused_on_authority_first(active, agent_a):
    before = number_snapshot(active)
    refused(
        PermissionDenied,
        lambda: services.number_transition(number=active, to_status=NumberStatus.WITHDRAWN, actor=agent_a, reason="x"),
    )
    assert number_snapshot(active) == before


def test_the_command_refuses_with_the_same_message(active, supervisor_a):
    before = number_snapshot(active)
    with pytest.raises(CommandError, match="Refused, nothing changed: .*Request a withdrawal instead"):
        call_command("number", "move", active.msisdn, "withdrawn", "--actor", "supervisor_a", "--reason", "inactive")
    assert number_snapshot(active) == before


# --- The request ------------------------------------------------------------------------


def test_a_legal_order_request_awaits_approval_and_tells_the_holder(
    media, active, holder, supervisor_a, django_capture_on_commit_callbacks
):
    request, sms = with_sms(django_capture_on_commit_callbacks, lambda: legal_order(active, supervisor_a))
    assert request.state == WithdrawalState.AWAITING_APPROVAL
    assert (request.holder, request.requested_by, request.reference) == (holder, supervisor_a, f"W-{request.pk}")
    assert request.document.name.endswith(".pdf") and "court-order" not in request.document.name
    assert {m.to_msisdn for m in sms} == {active.msisdn, holder.contact_msisdn}
    assert all(m.purpose == SmsPurpose.WITHDRAWAL and request.reference in m.body for m in sms)
    assert state_of(active) == (NumberStatus.ACTIVE, holder.pk)  # nothing moves before approval


def test_an_agent_of_the_branch_may_ask(media, active, agent_b):
    assert legal_order(active, agent_b).state == WithdrawalState.AWAITING_APPROVAL


def test_staff_of_another_branch_and_reviewers_may_not_ask(media, active, agent_c, supervisor_b, auditor, handler_a):
    for actor in (agent_c, supervisor_b, auditor, handler_a):
        refused(PermissionDenied, lambda actor=actor: legal_order(active, actor))
    assert not WithdrawalRequest.objects.exists()


@pytest.mark.parametrize(
    ("ground", "document", "code"),
    [
        ("inactivity", None, "ground"),
        (WithdrawalGround.LEGAL_ORDER, None, "form_required"),
        (WithdrawalGround.DEATH, SimpleUploadedFile("x.pdf", b"not a pdf"), "form_kind"),
        (WithdrawalGround.HOLDER_REQUEST, "pdf", "document_not_needed"),
    ],
)
def test_a_request_needs_a_listed_ground_and_its_evidence(media, active, supervisor_a, ground, document, code):
    document = order_pdf() if document == "pdf" else document
    error = refused(
        ValidationError,
        lambda: services.withdrawal_request(
            number=active, ground=ground, document=document, actor=supervisor_a, reason="x"
        ),
    )
    assert error.code == code or code in str(error.error_list[0].code)
    assert not WithdrawalRequest.objects.exists()


@pytest.mark.parametrize("status", [NumberStatus.AVAILABLE, NumberStatus.BLOCKED, NumberStatus.AGING])
def test_only_an_active_or_suspended_number_is_withdrawn(media, supervisor_a, branch_a, status):
    number = number_in_state(status, actor=supervisor_a, branch=branch_a)
    refused(ValidationError, lambda: legal_order(number, supervisor_a))


def test_a_locked_number_cannot_be_asked_for(media, active, agent_a, supervisor_a):
    services.transfer_lock_place(number=active, actor=agent_a, reason="holder asked")
    error = refused(ValidationError, lambda: legal_order(active, supervisor_a))
    assert "locked against transfers" in error.messages[0]


def test_one_open_request_per_number(media, active, supervisor_a):
    legal_order(active, supervisor_a)
    error = refused(ValidationError, lambda: legal_order(active, supervisor_a))
    assert error.code == "already_open"


# --- Four eyes ---------------------------------------------------------------------------


@pytest.fixture
def asked(media, active, supervisor_a):
    return legal_order(active, supervisor_a)


def test_a_second_supervisor_approves_and_the_number_goes_into_quarantine(
    asked, active, holder, supervisor_a2, django_capture_on_commit_callbacks
):
    done, sms = with_sms(
        django_capture_on_commit_callbacks,
        lambda: services.withdrawal_approve(request=asked, actor=supervisor_a2, reason="Order checked"),
    )
    assert (done.state, done.decided_by) == (WithdrawalState.EXECUTED, supervisor_a2)
    assert state_of(active) == (NumberStatus.AGING, None)
    holding = Holding.objects.get(number=active)
    assert (holding.end_reason, holding.ended_by) == (HoldingEndReason.WITHDRAWAL, supervisor_a2)
    statuses = list(MobileNumber.history.filter(id=active.pk).order_by("history_id").values_list("status", flat=True))
    assert statuses[-2:] == [NumberStatus.WITHDRAWN, NumberStatus.AGING]
    assert {m.to_msisdn for m in sms} == {active.msisdn, holder.contact_msisdn}


@pytest.mark.parametrize(
    ("who", "exc"),
    [
        ("supervisor_a", ValidationError),  # the requester
        ("admin_user", ValidationError),  # a superuser
        ("agent_b", PermissionDenied),
        ("supervisor_b", PermissionDenied),
    ],
)
def test_approval_is_refused_to_the_requester_a_superuser_and_staff_without_authority(request, asked, active, who, exc):
    actor = request.getfixturevalue(who)
    before = number_snapshot(active)
    refused(exc, lambda: services.withdrawal_approve(request=asked, actor=actor, reason="ok"))
    assert number_snapshot(active) == before
    assert WithdrawalRequest.objects.get(pk=asked.pk).state == WithdrawalState.AWAITING_APPROVAL


def test_the_database_holds_four_eyes(asked, supervisor_a):
    with pytest.raises(IntegrityError), transaction.atomic():
        back_date(
            WithdrawalRequest,
            asked.pk,
            state=WithdrawalState.REJECTED,
            decided_by=supervisor_a,
            decided_at=timezone.now(),
            decision_reason="my own",
        )


def test_a_lock_placed_after_the_request_stops_the_approval_and_survives(asked, active, agent_a, supervisor_a2):
    lock = services.transfer_lock_place(number=active, actor=agent_a, reason="holder asked after the SMS")
    error = refused(
        ValidationError, lambda: services.withdrawal_approve(request=asked, actor=supervisor_a2, reason="ok")
    )
    assert any("locked against transfers" in message for message in error.messages)
    assert TransferLock.objects.get(pk=lock.pk).lifted_at is None
    assert state_of(active)[0] == NumberStatus.ACTIVE


def test_the_requester_cannot_reject_but_a_superuser_may(asked, supervisor_a, admin_user):
    refused(ValidationError, lambda: services.withdrawal_reject(request=asked, actor=supervisor_a, reason="no"))
    done = services.withdrawal_reject(request=asked, actor=admin_user, reason="Order not genuine")
    assert done.state == WithdrawalState.REJECTED
    refused(ValidationError, lambda: services.withdrawal_approve(request=asked, actor=admin_user, reason="ok"))


def test_the_requester_may_cancel(asked, active, supervisor_a, supervisor_a2):
    services.withdrawal_cancel(request=asked, actor=supervisor_a, reason="order revoked")
    refused(ValidationError, lambda: services.withdrawal_approve(request=asked, actor=supervisor_a2, reason="ok"))
    assert state_of(active)[0] == NumberStatus.ACTIVE


# --- The holder's own request: a code to the number ------------------------------------


def test_the_holders_request_needs_the_code_sent_to_the_number(
    active, holder, agent_a, supervisor_a, supervisor_a2, django_capture_on_commit_callbacks, handset
):
    asked = services.withdrawal_request(
        number=active, ground=WithdrawalGround.HOLDER_REQUEST, actor=agent_a, reason="The holder ends the contract"
    )
    assert asked.state == WithdrawalState.AWAITING_CONSENT
    refused(ValidationError, lambda: services.withdrawal_approve(request=asked, actor=supervisor_a, reason="ok"))
    _, sms = with_sms(
        django_capture_on_commit_callbacks,
        lambda: services.withdrawal_send_code(request=asked, actor=agent_a, reason="holder at the counter"),
    )
    assert [(m.to_msisdn, m.purpose) for m in sms] == [(active.msisdn, SmsPurpose.CONSENT_CODE)]
    code = code_sent_to(active.msisdn)
    assert code not in sms[-1].body  # the outbox keeps it masked
    assert code not in WithdrawalRequest.objects.get(pk=asked.pk).code_hash
    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(ValidationError, match="tries left"):
        services.withdrawal_confirm_code(request=asked, code=wrong, actor=agent_a, reason="read back")
    assert WithdrawalRequest.objects.get(pk=asked.pk).code_attempts == 1  # counted, although refused
    confirmed = services.withdrawal_confirm_code(request=asked, code=code, actor=agent_a, reason="read back")
    assert (confirmed.state, confirmed.code_hash) == (WithdrawalState.AWAITING_APPROVAL, "")
    assert confirmed.holder_consented_at is not None
    services.withdrawal_approve(request=asked, actor=supervisor_a, reason="The holder confirmed by code")
    assert state_of(active) == (NumberStatus.AGING, None)


# --- Or the holder in person: a photo, a second employee, a cooling-off ---------------------


def _in_person(request, *, actor, number: str = "N0123456", photo=True):
    return services.withdrawal_record_holder_in_person(
        request=request,
        document_type=IdentityDocumentType.NATIONAL_ID,
        document_number=number,
        document_photo=document_photo() if photo else None,
        actor=actor,
        reason="SIM lost, the holder at the counter",
    )


@pytest.fixture
def holder_asked(media, active, agent_a):
    return services.withdrawal_request(
        number=active, ground=WithdrawalGround.HOLDER_REQUEST, actor=agent_a, reason="The holder ends the contract"
    )


def test_the_holder_in_person_needs_a_second_employee_and_the_cooling_off(
    holder_asked, active, agent_a, agent_b, supervisor_a, django_capture_on_commit_callbacks
):
    checked = _in_person(holder_asked, actor=agent_a)
    assert checked.holder_check_photo.name.endswith(".png")
    assert "document" not in checked.holder_check_photo.name  # random name, not the uploader's
    assert checked.holder_check_document_reference.endswith("3456")
    assert "N0123456" not in checked.holder_check_document_reference
    assert checked.holder_consented_at is None and checked.state == WithdrawalState.AWAITING_CONSENT
    refused(ValidationError, lambda: services.withdrawal_approve(request=checked, actor=supervisor_a, reason="ok"))
    confirmed, sms = with_sms(
        django_capture_on_commit_callbacks,
        lambda: services.withdrawal_confirm_holder_check(request=checked, actor=agent_b, reason="saw her"),
    )
    assert (confirmed.state, confirmed.holder_check_confirmed_by) == (WithdrawalState.AWAITING_APPROVAL, agent_b)
    assert confirmed.holder_consented_at is not None
    assert active.msisdn in [m.to_msisdn for m in sms]
    error = refused(
        ValidationError, lambda: services.withdrawal_approve(request=confirmed, actor=supervisor_a, reason="ok")
    )
    assert "cannot be approved before" in " ".join(error.messages)
    assert state_of(active)[0] == NumberStatus.ACTIVE
    back_date(
        WithdrawalRequest,
        confirmed.pk,
        holder_notified_at=timezone.now() - timedelta(hours=settings.TRANSFER_COOLING_OFF_HOURS, minutes=1),
    )
    services.withdrawal_approve(request=confirmed, actor=supervisor_a, reason="Checked twice, cooled off")
    assert state_of(active) == (NumberStatus.AGING, None)


def test_a_wrong_document_or_no_photo_records_nothing(holder_asked, agent_a):
    before = WithdrawalRequest.history.filter(id=holder_asked.pk).count()
    error = refused(ValidationError, lambda: _in_person(holder_asked, actor=agent_a, number="N9999999"))
    assert error.code == "document_mismatch"
    error = refused(ValidationError, lambda: _in_person(holder_asked, actor=agent_a, photo=False))
    assert error.code == "form_required"
    not_an_image = SimpleUploadedFile("id.png", b"%PDF-1.4 not a photo", content_type="image/png")
    error = refused(
        ValidationError,
        lambda: services.withdrawal_record_holder_in_person(
            request=holder_asked,
            document_type=IdentityDocumentType.NATIONAL_ID,
            document_number="N0123456",
            document_photo=not_an_image,
            actor=agent_a,
            reason="x",
        ),
    )
    assert error.code == "form_kind"
    fresh = WithdrawalRequest.objects.get(pk=holder_asked.pk)
    assert (fresh.holder_checked_at, fresh.holder_check_photo.name) == (None, "")
    assert WithdrawalRequest.history.filter(id=holder_asked.pk).count() == before


def test_the_check_is_not_confirmed_by_its_capturer_the_requester_a_superuser_or_another_branch(
    holder_asked, agent_a, agent_b, agent_c, supervisor_a, admin_user
):
    checked = _in_person(holder_asked, actor=supervisor_a)

    def confirm(actor):
        return lambda: services.withdrawal_confirm_holder_check(request=checked, actor=actor, reason="saw her")

    assert refused(ValidationError, confirm(supervisor_a)).code == "confirm_own"
    assert refused(ValidationError, confirm(agent_a)).code == "confirm_own_request"
    refused(PermissionDenied, confirm(admin_user))
    refused(PermissionDenied, confirm(agent_c))
    assert WithdrawalRequest.objects.get(pk=checked.pk).holder_check_confirmed_at is None
    services.withdrawal_confirm_holder_check(request=checked, actor=agent_b, reason="saw her")


def test_the_requester_alone_cannot_check_and_confirm(holder_asked, agent_a):
    checked = _in_person(holder_asked, actor=agent_a)
    refused(
        ValidationError,
        lambda: services.withdrawal_confirm_holder_check(request=checked, actor=agent_a, reason="me again"),
    )


def test_a_document_request_is_not_checked_in_person(asked, agent_a):
    refused(ValidationError, lambda: _in_person(asked, actor=agent_a))


def test_the_database_holds_the_second_employee(holder_asked, agent_a, agent_b):
    checked = _in_person(holder_asked, actor=agent_b)
    for confirmer in (agent_b, agent_a):  # the capturer, the requester
        with pytest.raises(IntegrityError), transaction.atomic(), service_write_scope():
            WithdrawalRequest.objects.filter(pk=checked.pk).update(
                holder_check_confirmed_by=confirmer, holder_check_confirmed_at=timezone.now()
            )


def test_a_document_request_takes_no_code(asked, supervisor_a):
    refused(ValidationError, lambda: services.withdrawal_send_code(request=asked, actor=supervisor_a, reason="x"))


# --- Quarantine for everyone --------------------------------------------------------------


@pytest.fixture
def aging(asked, active, supervisor_a2):
    services.withdrawal_approve(request=asked, actor=supervisor_a2, reason="Order checked")
    return MobileNumber.objects.get(pk=active.pk)


def _end_of_holding_moved_back(number, days: int) -> None:
    holding = Holding.objects.get(number=number)
    ended = timezone.now() - timedelta(days=days)
    with ledger_rewrite_allowed():
        back_date(Holding, holding.pk, started_at=ended - timedelta(days=30), ended_at=ended)


@pytest.mark.parametrize("who", ["supervisor_a2", "admin_user"])
def test_nobody_ends_the_quarantine_early(request, aging, who):
    actor = request.getfixturevalue(who)
    error = refused(
        IllegalMove,
        lambda: services.number_transition(number=aging, to_status=NumberStatus.AVAILABLE, actor=actor, reason="x"),
    )
    assert error.code == "quarantine"
    _end_of_holding_moved_back(aging, settings.NUMBER_LIFECYCLE["QUARANTINE_DAYS"] - 1)
    refused(
        IllegalMove,
        lambda: services.number_transition(number=aging, to_status=NumberStatus.AVAILABLE, actor=actor, reason="x"),
    )
    assert state_of(aging) == (NumberStatus.AGING, None)


def test_after_the_quarantine_the_number_is_available(aging, supervisor_a2):
    _end_of_holding_moved_back(aging, settings.NUMBER_LIFECYCLE["QUARANTINE_DAYS"] + 1)
    moved = services.number_transition(
        number=aging, to_status=NumberStatus.AVAILABLE, actor=supervisor_a2, reason="quarantine over"
    )
    assert moved.status == NumberStatus.AVAILABLE


def test_an_aging_number_is_not_for_sale(aging, agent_a, supervisor_a2):
    buyer = SubscriberFactory()
    for actor in (agent_a, supervisor_a2):
        refused(
            (ValidationError, PermissionDenied),
            lambda actor=actor: services.number_sell(number=aging, subscriber=buyer, actor=actor, reason="x"),
        )
    assert state_of(aging) == (NumberStatus.AGING, None)


def _raw_status(number_id: int, status: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("UPDATE numbers_mobilenumber SET status = %s WHERE id = %s", [status, number_id])


@pytest.mark.parametrize("status", [NumberStatus.AVAILABLE, NumberStatus.RESERVED])
def test_the_database_refuses_to_end_the_quarantine_early(aging, status):
    with pytest.raises(IntegrityError), transaction.atomic():
        _raw_status(aging.pk, status)
    assert state_of(aging) == (NumberStatus.AGING, None)
    # The trigger counts the minimum (baked in at migration time), on the database's clock.
    _end_of_holding_moved_back(aging, settings.NUMBER_LIFECYCLE["MIN_QUARANTINE_DAYS"] - 1)
    with pytest.raises(IntegrityError), transaction.atomic():
        _raw_status(aging.pk, status)
    _end_of_holding_moved_back(aging, settings.NUMBER_LIFECYCLE["MIN_QUARANTINE_DAYS"] + 1)
    _raw_status(aging.pk, status)
    assert state_of(aging) == (status, None)


def test_the_database_refuses_a_withdrawn_number_straight_to_available(active, supervisor_a):
    withdraw_as_lifecycle(active, actor=supervisor_a, reason="test")
    with pytest.raises(IntegrityError), transaction.atomic():
        _raw_status(active.pk, NumberStatus.AVAILABLE)


# --- Back to the last holder, and nobody else ------------------------------------------


def test_the_last_holder_has_an_inactive_number_back(active, holder, supervisor_a, django_capture_on_commit_callbacks):
    withdraw_as_lifecycle(active, actor=None, reason="Inactivity")
    holding, sms = with_sms(
        django_capture_on_commit_callbacks,
        lambda: services.number_reinstate(
            number=active, subscriber=holder, actor=supervisor_a, reason="Holder came back and paid"
        ),
    )
    assert holding.start_reason == HoldingStartReason.REINSTATEMENT
    assert state_of(active) == (NumberStatus.ACTIVE, holder.pk)
    assert active.msisdn in {m.to_msisdn for m in sms}


def test_nobody_else_has_it_and_only_a_supervisor_gives_it_back(active, holder, newcomer, agent_a, supervisor_a):
    withdraw_as_lifecycle(active, actor=None, reason="Inactivity")
    before = number_snapshot(active)
    error = refused(
        ValidationError,
        lambda: services.number_reinstate(number=active, subscriber=newcomer, actor=supervisor_a, reason="x"),
    )
    assert error.code == "not_last_holder"
    refused(
        PermissionDenied,
        lambda: services.number_reinstate(number=active, subscriber=holder, actor=agent_a, reason="x"),
    )
    assert number_snapshot(active) == before


def test_a_number_withdrawn_on_an_order_does_not_go_back_by_hand(aging, holder, supervisor_a):
    error = refused(
        ValidationError,
        lambda: services.number_reinstate(number=aging, subscriber=holder, actor=supervisor_a, reason="x"),
    )
    assert error.code == "withdrawn_on_order"


def test_a_held_number_is_not_reinstated(active, holder, supervisor_a):
    refused(
        ValidationError,
        lambda: services.number_reinstate(number=active, subscriber=holder, actor=supervisor_a, reason="x"),
    )


# --- The lock, held by the database ------------------------------------------------------------


def _raw_withdraw(number) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE numbers_holding SET ended_at = %s, end_reason = 'withdrawal' WHERE number_id = %s "
            "AND ended_at IS NULL",
            [timezone.now(), number.pk],
        )
        cursor.execute(
            "UPDATE numbers_mobilenumber SET status = 'withdrawn', holder_id = NULL WHERE id = %s", [number.pk]
        )


def test_the_database_refuses_to_withdraw_a_locked_number(active, holder, agent_a):
    services.transfer_lock_place(number=active, actor=agent_a, reason="holder asked")
    with pytest.raises(IntegrityError), transaction.atomic():
        _raw_withdraw(active)
    assert state_of(active) == (NumberStatus.ACTIVE, holder.pk)


def test_the_database_lets_an_unlocked_number_be_withdrawn(active):
    _raw_withdraw(active)
    assert state_of(active) == (NumberStatus.WITHDRAWN, None)


def test_code_sends_are_budgeted_per_number_across_requests(active, agent_a, settings):
    settings.TRANSFER_CODE_MAX_SENDS = 2

    def ask():
        return services.withdrawal_request(
            number=active, ground=WithdrawalGround.HOLDER_REQUEST, actor=agent_a, reason="The holder asks"
        )

    first = ask()
    services.withdrawal_send_code(request=first, actor=agent_a, reason="code")
    services.withdrawal_cancel(request=first, actor=agent_a, reason="again")
    second = ask()
    services.withdrawal_send_code(request=second, actor=agent_a, reason="code")
    error = refused(
        ValidationError, lambda: services.withdrawal_send_code(request=second, actor=agent_a, reason="code")
    )
    assert error.code == "too_many_codes"
