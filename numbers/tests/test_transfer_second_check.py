"""The holder's consent needs a factor staff cannot produce alone (issue 13, path 2).

By default that is the code sent to the number. In person or by signed form the
consent counts only with a photo of the document (in person) and a second employee
of the branch confirming the check; the request then waits out the cooling-off
after the holder's notice, and its high risk flags make it need two supervisors.
One employee never captures both parties' consents alone.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from complaints.tests.casework import new_complaint
from numbers import services
from numbers.choices import ConsentParty, HoldingEndReason, HoldingStartReason, TransferState
from numbers.models import Holding, MobileNumber, TransferConsent, TransferRequest, service_write_scope
from numbers.selectors import RiskLevel, transfer_risk_flags_now
from sms.choices import SmsPurpose
from tests.factories import (
    confirm_consent,
    consent_by_code,
    consent_in_person,
    document_of,
)
from tests.helpers import back_date, refused, refused_quietly, transfer_snapshot, with_sms

pytestmark = pytest.mark.django_db


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


@pytest.fixture(autouse=True)
def _office_hours(settings):
    """Requests made at any hour are in hours, unless a test says otherwise."""
    settings.TRANSFER_RISK_OPEN_HOUR, settings.TRANSFER_RISK_CLOSE_HOUR = 0, 24


@pytest.fixture
def forged(agent_b, active, newcomer):
    """Path 2: agent_b asks for the transfer of ``active`` to ``newcomer``."""
    return services.transfer_create(number=active, new_subscriber=newcomer, actor=agent_b, reason="holder sells it")


def approve(request, actor, reason="consents checked"):
    return services.transfer_approve(request=request, actor=actor, reason=reason)


def past_cooling_off(request, hours: int = 25) -> None:
    back_date(TransferRequest, request.pk, holder_notified_at=timezone.now() - timedelta(hours=hours))


def confirmed_in_person(request, *, capturer, confirmer):
    """The holder in person (photo) captured by ``capturer``, confirmed by ``confirmer``."""
    consent = consent_in_person(request, ConsentParty.CURRENT_HOLDER, actor=capturer)
    return confirm_consent(consent, actor=confirmer)


# --- The photo of the document -------------------------------------------------------


def test_the_holders_in_person_consent_needs_a_photo_of_the_document(agent_b, forged, capture):
    before = transfer_snapshot(forged.number)
    error = refused_quietly(
        capture,
        ValidationError,
        lambda: consent_in_person(forged, ConsentParty.CURRENT_HOLDER, actor=agent_b, photo=False),
    )
    assert error.code == "form_required"
    assert transfer_snapshot(forged.number) == before


def test_a_photo_must_be_an_image_whatever_its_name(agent_b, forged, capture):
    before = transfer_snapshot(forged.number)
    holder = forged.from_holder
    fake = SimpleUploadedFile("document.png", b"%PDF-1.4 not an image", content_type="image/png")
    error = refused_quietly(
        capture,
        ValidationError,
        lambda: services.consent_record_in_person(
            request=forged,
            party=ConsentParty.CURRENT_HOLDER,
            document_type=holder.id_document_type,
            document_number=document_of(holder),
            document_photo=fake,
            actor=agent_b,
            reason="at the counter",
        ),
    )
    assert error.code == "form_kind"
    assert transfer_snapshot(forged.number) == before


def test_the_photo_is_kept_under_a_random_name(agent_b, forged):
    consent = consent_in_person(forged, ConsentParty.CURRENT_HOLDER, actor=agent_b)
    stored = TransferConsent.objects.get(pk=consent.pk)
    assert stored.document_photo.name.startswith("consent-evidence/")
    assert "document" not in stored.document_photo.name
    assert stored.document_photo.name.endswith(".png")


def test_the_new_subscribers_in_person_consent_needs_no_photo_nor_confirmation(agent_a, forged):
    consent = consent_in_person(forged, ConsentParty.NEW_SUBSCRIBER, actor=agent_a, photo=False)
    assert consent.is_standing()
    assert not consent.document_photo


# --- The second employee's confirmation ---------------------------------------------------


def test_an_unconfirmed_in_person_consent_of_the_holder_does_not_stand(agent_a, agent_b, forged):
    consent = consent_in_person(forged, ConsentParty.CURRENT_HOLDER, actor=agent_b)
    consent_in_person(forged, ConsentParty.NEW_SUBSCRIBER, actor=agent_a)

    assert not TransferConsent.objects.get(pk=consent.pk).is_standing()
    assert TransferRequest.objects.get(pk=forged.pk).state == TransferState.AWAITING_CONSENT


def test_a_second_employee_confirms_and_the_holder_is_told(agent_a, agent_b, forged, capture):
    consent = consent_in_person(forged, ConsentParty.CURRENT_HOLDER, actor=agent_b)
    consent_in_person(forged, ConsentParty.NEW_SUBSCRIBER, actor=agent_a)

    confirmed, sent = with_sms(capture, lambda: confirm_consent(consent, actor=agent_a))

    confirmed = TransferConsent.objects.get(pk=confirmed.pk)
    assert (confirmed.confirmed_by, confirmed.confirmed_at is not None) == (agent_a, True)
    assert confirmed.is_standing()
    assert TransferRequest.objects.get(pk=forged.pk).state == TransferState.AWAITING_APPROVAL
    record = confirmed.history.first()
    assert (record.history_user, record.history_change_reason) == (agent_a, "saw the holder and the document myself")
    assert forged.number.msisdn in [message.to_msisdn for message in sent]
    assert all(message.purpose == SmsPurpose.TRANSFER_REQUESTED for message in sent)
    assert "If this was not you" in sent[0].body


def test_a_supervisor_of_the_branch_may_confirm(agent_b, supervisor_a, forged):
    consent = consent_in_person(forged, ConsentParty.CURRENT_HOLDER, actor=agent_b)
    assert confirm_consent(consent, actor=supervisor_a).confirmed_by == supervisor_a


@pytest.mark.parametrize(
    ("who", "code"),
    [("agent_b", "confirm_own"), ("requester", "confirm_own_request")],
)
def test_neither_the_capturer_nor_the_requester_confirms(
    request, who, code, agent_a, agent_b, active, newcomer, capture
):
    requester = agent_a
    transfer = services.transfer_create(number=active, new_subscriber=newcomer, actor=requester, reason="sold")
    consent = consent_in_person(transfer, ConsentParty.CURRENT_HOLDER, actor=agent_b)
    actor = agent_b if who == "agent_b" else requester
    before = transfer_snapshot(active)

    error = refused_quietly(capture, ValidationError, lambda: confirm_consent(consent, actor=actor))

    assert error.code == code
    assert transfer_snapshot(active) == before


@pytest.mark.parametrize("persona", ["admin_user", "agent_c", "supervisor_b", "handler_a", "auditor"])
def test_nobody_outside_the_branchs_counter_confirms_not_even_a_superuser(request, persona, agent_b, forged, capture):
    consent = consent_in_person(forged, ConsentParty.CURRENT_HOLDER, actor=agent_b)
    before = transfer_snapshot(forged.number)
    actor = request.getfixturevalue(persona)

    refused_quietly(capture, PermissionDenied, lambda: confirm_consent(consent, actor=actor))

    assert transfer_snapshot(forged.number) == before


def test_a_consent_is_confirmed_once(agent_a, agent_b, supervisor_a, forged, capture):
    consent = consent_in_person(forged, ConsentParty.CURRENT_HOLDER, actor=agent_b)
    confirm_consent(consent, actor=agent_a)
    error = refused_quietly(capture, ValidationError, lambda: confirm_consent(consent, actor=supervisor_a))
    assert error.code == "already_confirmed"


def test_a_code_or_a_new_subscribers_consent_needs_no_confirmation(agent_a, agent_b, supervisor_a, forged, capture):
    by_code = consent_by_code(forged, actor=agent_b)
    newcomer = consent_in_person(forged, ConsentParty.NEW_SUBSCRIBER, actor=agent_b)
    for consent in (by_code, newcomer):
        error = refused_quietly(capture, ValidationError, lambda c=consent: confirm_consent(c, actor=supervisor_a))
        assert error.code == "no_confirmation_needed"


def test_a_revoked_consent_is_not_confirmed(agent_a, agent_b, supervisor_a, forged, capture):
    consent = consent_in_person(forged, ConsentParty.CURRENT_HOLDER, actor=agent_b)
    services.consent_revoke(consent=consent, actor=supervisor_a, reason="holder changed her mind")
    error = refused_quietly(capture, ValidationError, lambda: confirm_consent(consent, actor=agent_a))
    assert error.code == "not_given"


def test_a_signed_form_of_the_holder_also_needs_the_second_check(agent_a, agent_b, forged):
    form = SimpleUploadedFile("form.pdf", b"%PDF-1.4 signed", content_type="application/pdf")
    consent = services.consent_record_signed_form(
        request=forged, party=ConsentParty.CURRENT_HOLDER, signed_form=form, actor=agent_b, reason="form brought in"
    )
    assert not consent.is_standing()
    assert confirm_consent(consent, actor=agent_a).is_standing()


# --- One employee never vouches for both parties -------------------------------------------


@pytest.mark.parametrize("holder_first", [True, False], ids=["holder first", "new subscriber first"])
def test_one_employee_cannot_capture_both_consents_in_person(agent_b, forged, capture, holder_first):
    parties = [ConsentParty.CURRENT_HOLDER, ConsentParty.NEW_SUBSCRIBER]
    if not holder_first:
        parties.reverse()
    consent_in_person(forged, parties[0], actor=agent_b)
    before = transfer_snapshot(forged.number)

    error = refused_quietly(capture, ValidationError, lambda: consent_in_person(forged, parties[1], actor=agent_b))

    assert error.code == "both_consents_one_employee"
    assert transfer_snapshot(forged.number) == before


def test_with_the_holders_code_one_employee_may_take_both(agent_b, forged):
    """The code is the holder's own factor: the employee only types what the SIM received."""
    consent_by_code(forged, actor=agent_b)
    consent_in_person(forged, ConsentParty.NEW_SUBSCRIBER, actor=agent_b)
    assert TransferRequest.objects.get(pk=forged.pk).state == TransferState.AWAITING_APPROVAL


def test_approval_rechecks_that_one_employee_did_not_take_both(agent_a, agent_b, supervisor_a, forged, capture):
    """A row written before the rule (or by any other path) is still refused at approval."""
    holder = confirmed_in_person(forged, capturer=agent_b, confirmer=agent_a)
    newcomer = consent_in_person(forged, ConsentParty.NEW_SUBSCRIBER, actor=agent_a)
    back_date(TransferConsent, newcomer.pk, captured_by=holder.captured_by)
    past_cooling_off(forged)

    error = refused_quietly(capture, ValidationError, lambda: approve(forged, supervisor_a))

    assert "One employee captured both parties' consents" in " ".join(error.messages)


# --- The cooling-off ---------------------------------------------------------------------------


def test_no_approval_during_the_cooling_off_after_an_in_person_consent(agent_a, agent_b, supervisor_a, forged, capture):
    """Path 2: supervisor_a two minutes after the holder's notice is refused."""
    confirmed_in_person(forged, capturer=agent_b, confirmer=agent_a)
    consent_in_person(forged, ConsentParty.NEW_SUBSCRIBER, actor=agent_a)
    past_cooling_off(forged, hours=0)
    back_date(TransferRequest, forged.pk, holder_notified_at=timezone.now() - timedelta(minutes=2))
    before = transfer_snapshot(forged.number)

    error = refused_quietly(capture, ValidationError, lambda: approve(forged, supervisor_a))

    assert any(message.startswith("Cooling-off") for message in error.messages)
    assert transfer_snapshot(forged.number) == before


def test_the_cooling_off_follows_its_setting(settings, agent_a, agent_b, supervisor_a, supervisor_a2, forged):
    settings.TRANSFER_COOLING_OFF_HOURS = 1
    confirmed_in_person(forged, capturer=agent_b, confirmer=agent_a)
    consent_in_person(forged, ConsentParty.NEW_SUBSCRIBER, actor=agent_a)
    past_cooling_off(forged, hours=2)
    assert approve(forged, supervisor_a).first_approved_by == supervisor_a


def test_a_holder_who_was_never_told_blocks_approval(agent_a, agent_b, supervisor_a, forged, capture):
    confirmed_in_person(forged, capturer=agent_b, confirmer=agent_a)
    consent_in_person(forged, ConsentParty.NEW_SUBSCRIBER, actor=agent_a)
    back_date(TransferRequest, forged.pk, holder_notified_at=None)
    error = refused_quietly(capture, ValidationError, lambda: approve(forged, supervisor_a))
    assert "never told" in " ".join(error.messages)


def test_the_code_to_the_number_needs_no_cooling_off_nor_second_supervisor(agent_a, supervisor_a, open_request):
    consent_by_code(open_request, actor=agent_a)
    consent_in_person(open_request, ConsentParty.NEW_SUBSCRIBER, actor=agent_a)

    done = approve(open_request, supervisor_a)

    assert done.state == TransferState.EXECUTED
    assert (done.first_approved_by, done.second_approval_required) == (None, False)


# --- Two supervisors for a high flag ---------------------------------------------------------------


def test_a_high_flag_needs_two_different_supervisors(agent_a, agent_b, supervisor_a, supervisor_a2, admin_user, forged):
    confirmed_in_person(forged, capturer=agent_b, confirmer=agent_a)
    consent_in_person(forged, ConsentParty.NEW_SUBSCRIBER, actor=agent_a)
    past_cooling_off(forged)

    first = approve(forged, supervisor_a, reason="document photo and colleague's check on file")

    first = TransferRequest.objects.get(pk=first.pk)
    assert (first.state, first.first_approved_by, first.second_approval_required) == (
        TransferState.AWAITING_APPROVAL,
        supervisor_a,
        True,
    )
    assert "Holder not by code" in first.first_approval_reason
    assert MobileNumber.objects.get(pk=forged.number_id).holder == forged.from_holder

    again = refused(ValidationError, lambda: approve(first, supervisor_a))
    assert "You gave the first approval" in " ".join(again.messages)
    refused(ValidationError, lambda: approve(first, admin_user))

    done = approve(first, supervisor_a2, reason="second pair of eyes")
    assert (done.state, done.decided_by, done.first_approved_by) == (
        TransferState.EXECUTED,
        supervisor_a2,
        supervisor_a,
    )
    assert MobileNumber.objects.get(pk=forged.number_id).holder == forged.to_subscriber


def test_the_confirmer_does_not_approve(agent_b, supervisor_a, supervisor_a2, agent_a, forged, capture):
    confirmed_in_person(forged, capturer=agent_b, confirmer=supervisor_a)
    consent_in_person(forged, ConsentParty.NEW_SUBSCRIBER, actor=agent_a)
    past_cooling_off(forged)
    error = refused_quietly(capture, ValidationError, lambda: approve(forged, supervisor_a))
    assert "You confirmed the current holder's consent" in " ".join(error.messages)


def test_a_revoked_consent_voids_the_first_approval(agent_a, agent_b, supervisor_a, supervisor_a2, forged):
    holder = confirmed_in_person(forged, capturer=agent_b, confirmer=agent_a)
    consent_in_person(forged, ConsentParty.NEW_SUBSCRIBER, actor=agent_a)
    past_cooling_off(forged)
    approve(forged, supervisor_a)

    services.consent_revoke(consent=holder, actor=agent_a, reason="the holder called: she did not agree")

    voided = TransferRequest.objects.get(pk=forged.pk)
    assert (voided.state, voided.first_approved_by, voided.second_approval_required) == (
        TransferState.AWAITING_CONSENT,
        None,
        True,
    )


# --- The database holds the same rules --------------------------------------------------------------


def _write(model, pk, **fields):
    with service_write_scope(), transaction.atomic():
        model.objects.filter(pk=pk).update(**fields)


def test_the_database_refuses_a_confirmation_by_the_capturer(agent_b, forged):
    consent = consent_in_person(forged, ConsentParty.CURRENT_HOLDER, actor=agent_b)
    with pytest.raises(IntegrityError):
        _write(TransferConsent, consent.pk, confirmed_by=agent_b, confirmed_at=timezone.now())


def test_the_database_refuses_a_confirmed_in_person_consent_without_photo(agent_a, agent_b, forged):
    consent = consent_in_person(forged, ConsentParty.CURRENT_HOLDER, actor=agent_b)
    with pytest.raises(IntegrityError):
        _write(TransferConsent, consent.pk, document_photo="", confirmed_by=agent_a, confirmed_at=timezone.now())


def test_the_database_refuses_a_confirmation_of_a_code(agent_a, agent_b, forged):
    consent = consent_by_code(forged, actor=agent_b)
    with pytest.raises(IntegrityError):
        _write(TransferConsent, consent.pk, confirmed_by=agent_a, confirmed_at=timezone.now())


def test_the_database_refuses_a_first_approval_by_the_requester(agent_b, forged):
    with pytest.raises(IntegrityError):
        _write(
            TransferRequest,
            forged.pk,
            first_approved_by=agent_b,
            first_approved_at=timezone.now(),
            first_approval_reason="x",
        )


def test_the_database_refuses_one_supervisor_as_both_approvers(agent_a, agent_b, supervisor_a, supervisor_a2, forged):
    confirmed_in_person(forged, capturer=agent_b, confirmer=agent_a)
    consent_in_person(forged, ConsentParty.NEW_SUBSCRIBER, actor=agent_a)
    past_cooling_off(forged)
    approve(forged, supervisor_a)
    done = approve(forged, supervisor_a2)
    with pytest.raises(IntegrityError):
        _write(TransferRequest, done.pk, decided_by=supervisor_a)
    with pytest.raises(IntegrityError):
        _write(TransferRequest, done.pk, first_approved_by=None, first_approved_at=None, first_approval_reason="")


# --- The ledger's trigger (migration 0015, PostgreSQL and SQLite) ------------------------------------


def _hand_over(request, decided_by) -> None:
    """Past every Python guard: mark the request executed and open the new holding."""
    now = timezone.now()
    with service_write_scope(), transaction.atomic():
        TransferRequest.objects.filter(pk=request.pk).update(
            state=TransferState.EXECUTED, decided_by=decided_by, decided_at=now, decision_reason="pushed through"
        )
        Holding.objects.filter(number=request.number, ended_at__isnull=True).update(
            ended_at=now, end_reason=HoldingEndReason.TRANSFER
        )
        Holding.objects.create(
            number=request.number,
            subscriber=request.to_subscriber,
            started_at=now,
            start_reason=HoldingStartReason.TRANSFER,
            transfer_request=request,
        )


@pytest.mark.parametrize("forgery", ["unconfirmed", "confirmed by the requester", "both by one employee"])
def test_the_ledger_refuses_a_transfer_without_the_holders_factor(
    agent_a, agent_b, supervisor_a, active, newcomer, forgery
):
    request = services.transfer_create(number=active, new_subscriber=newcomer, actor=agent_a, reason="sold")
    holder = consent_in_person(request, ConsentParty.CURRENT_HOLDER, actor=agent_b)
    other = consent_in_person(request, ConsentParty.NEW_SUBSCRIBER, actor=supervisor_a)
    now = timezone.now()
    if forgery == "confirmed by the requester":
        back_date(TransferConsent, holder.pk, confirmed_by=agent_a, confirmed_at=now)
    elif forgery == "both by one employee":
        confirm_consent(holder, actor=supervisor_a)
        back_date(TransferConsent, other.pk, captured_by=agent_b)
    before = list(Holding.objects.filter(number=active).values_list("pk", "ended_at"))

    with pytest.raises(IntegrityError) as exc:
        _hand_over(request, supervisor_a)

    assert "holder's consent by the code to the number or confirmed" in str(exc.value)
    assert list(Holding.objects.filter(number=active).values_list("pk", "ended_at")) == before


def test_the_ledger_lets_a_confirmed_or_coded_transfer_through(agent_a, agent_b, supervisor_a, active, newcomer):
    request = services.transfer_create(number=active, new_subscriber=newcomer, actor=agent_a, reason="sold")
    confirm_consent(consent_in_person(request, ConsentParty.CURRENT_HOLDER, actor=agent_b), actor=supervisor_a)
    consent_in_person(request, ConsentParty.NEW_SUBSCRIBER, actor=agent_a)
    _hand_over(request, supervisor_a)
    assert Holding.objects.get(transfer_request=request).subscriber == newcomer


# --- Risk flags ---------------------------------------------------------------------------------------


def _flags(request):
    return {flag.code: flag.level for flag in transfer_risk_flags_now(transfer=request, now=timezone.now())}


def test_path_two_shows_its_high_flags(agent_a, agent_b, forged):
    confirmed_in_person(forged, capturer=agent_b, confirmer=agent_a)
    consent_in_person(forged, ConsentParty.NEW_SUBSCRIBER, actor=agent_a)
    flags = _flags(forged)
    assert flags["holder_not_by_code"] == RiskLevel.HIGH
    assert flags["cooling_off"] == RiskLevel.HIGH
    assert flags["requester_captured"] == RiskLevel.MEDIUM
    past_cooling_off(forged)
    assert "cooling_off" not in _flags(forged)


def test_a_request_by_code_has_no_high_flag(agent_a, open_request):
    consent_by_code(open_request, actor=agent_a)
    assert RiskLevel.HIGH not in _flags(open_request).values()


def test_out_of_hours_is_flagged(settings, open_request):
    settings.TRANSFER_RISK_OPEN_HOUR, settings.TRANSFER_RISK_CLOSE_HOUR = 0, 0
    assert _flags(open_request)["out_of_hours"] == RiskLevel.MEDIUM


def test_a_new_subscriber_registered_by_the_requester_is_flagged(agent_a, admin_user, active):
    registered = services.subscriber_create(
        full_name="Made Up",
        id_document_type="passport",
        id_document_number="P0000042",
        contact_msisdn="",
        registered_branch=active.branch,
        actor=agent_a,
        reason="new customer at the counter",
    )
    request = services.transfer_create(number=active, new_subscriber=registered, actor=agent_a, reason="sold")
    assert _flags(request)["new_subscriber_by_requester"] == RiskLevel.MEDIUM


def test_a_recent_top_up_is_flagged(agent_a, open_request):
    services.number_record_topup(number=open_request.number, actor=agent_a, reason="topped up yesterday")
    assert _flags(open_request)["recent_topup"] == RiskLevel.MEDIUM


def test_the_holders_open_complaint_is_a_high_flag(agent_a, handler_a, open_request, sla_presets):
    new_complaint(actor=handler_a, complainant=open_request.from_holder, branch=open_request.branch)
    assert _flags(open_request)["open_complaint"] == RiskLevel.HIGH
