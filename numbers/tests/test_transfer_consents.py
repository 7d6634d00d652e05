"""The two consents of a transfer: in person with the identity document on record,
a signed form, or a one-time code sent to the number itself. One standing consent
per party; consent lapses, can be revoked until approval, and the request awaits
approval exactly while both stand."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from numbers import services
from numbers.choices import ConsentMethod, ConsentParty, IdentityDocumentType, NumberStatus, TransferState
from numbers.models import ConsentCode, TransferConsent, TransferRequest
from sms.choices import SmsPurpose
from tests.factories import (
    SubscriberFactory,
    confirm_consent,
    consent_by_code,
    document_of,
    document_photo,
    number_in_state,
)
from tests.helpers import (
    back_date,
    code_sent_to,
    refused,
    refused_quietly,
    transfer_snapshot,
    with_sms,
)

pytestmark = pytest.mark.django_db

HOLDER, NEWCOMER = ConsentParty.CURRENT_HOLDER, ConsentParty.NEW_SUBSCRIBER


def subscriber_of(request, party):
    return request.from_holder if party == HOLDER else request.to_subscriber


def in_person(request, party, actor, *, document_type=None, document_number=None, reason="documents checked"):
    """The holder's comes with a photo of the document (its confirmation is tested
    in test_transfer_second_check)."""
    subscriber = subscriber_of(request, party)
    return services.consent_record_in_person(
        request=request,
        party=party,
        document_type=document_type if document_type is not None else subscriber.id_document_type,
        document_number=document_number if document_number is not None else document_of(subscriber),
        document_photo=document_photo() if party == HOLDER else None,
        actor=actor,
        reason=reason,
    )


def state_of(request) -> str:
    return TransferRequest.objects.get(pk=request.pk).state


# --- In person, with the identity document on record ----------------------------------


@pytest.mark.parametrize("party", ConsentParty.values)
def test_consent_in_person_with_the_document_on_record(agent_b, open_request, party):
    consent = in_person(open_request, party, agent_b, reason="card checked at the counter")

    consent = TransferConsent.objects.get(pk=consent.pk)
    subscriber = subscriber_of(open_request, party)
    assert (consent.request, consent.party, consent.subscriber) == (open_request, party, subscriber)
    assert (consent.method, consent.document_type) == (ConsentMethod.IN_PERSON, subscriber.id_document_type)
    # Only the last characters of the document are kept.
    assert consent.document_reference.endswith(document_of(subscriber)[-4:])
    assert document_of(subscriber) not in consent.document_reference
    assert consent.captured_by == agent_b
    assert consent.revoked_at is None
    record = consent.history.first()
    assert (record.history_user, record.history_change_reason) == (agent_b, "card checked at the counter")


def test_the_document_number_is_compared_without_spaces_dashes_or_case(agent_b, open_request):
    in_person(open_request, NEWCOMER, agent_b, document_number=" p-765 4321 ")
    assert open_request.consents.get().party == NEWCOMER


@pytest.mark.parametrize("party", ConsentParty.values)
@pytest.mark.parametrize(
    "shown",
    ["wrong number", "wrong type", "other party's document", "blank"],
)
def test_a_document_that_does_not_match_records_nothing(
    agent_b, active, open_request, party, shown, django_capture_on_commit_callbacks
):
    subscriber = subscriber_of(open_request, party)
    other = subscriber_of(open_request, NEWCOMER if party == HOLDER else HOLDER)
    wrong_type = next(t for t in IdentityDocumentType.values if t != subscriber.id_document_type)
    document = {
        "wrong number": (subscriber.id_document_type, document_of(subscriber) + "9"),
        "wrong type": (wrong_type, document_of(subscriber)),
        "other party's document": (other.id_document_type, document_of(other)),
        "blank": (subscriber.id_document_type, " - "),
    }[shown]
    before = transfer_snapshot(active)

    error = refused_quietly(
        django_capture_on_commit_callbacks,
        ValidationError,
        lambda: in_person(open_request, party, agent_b, document_type=document[0], document_number=document[1]),
    )

    assert error.code == ("document_required" if shown == "blank" else "document_mismatch")
    assert transfer_snapshot(active) == before
    assert not open_request.consents.exists()


def test_an_unknown_party_is_refused(agent_b, active, open_request):
    before = transfer_snapshot(active)
    error = refused(ValidationError, lambda: in_person(open_request, "a cousin", agent_b, document_type="x"))
    assert error.code == "party"
    assert transfer_snapshot(active) == before


@pytest.mark.parametrize("persona", ["agent_a", "agent_b", "supervisor_a"])
def test_branch_staff_capture_consents(request, persona, open_request):
    actor = request.getfixturevalue(persona)
    assert in_person(open_request, HOLDER, actor).captured_by == actor


@pytest.mark.parametrize("persona", ["agent_c", "supervisor_b", "handler_a", "auditor"])
def test_staff_without_counter_authority_on_the_branch_capture_no_consent(request, persona, active, open_request):
    actor = request.getfixturevalue(persona)
    before = transfer_snapshot(active)
    refused(PermissionDenied, lambda: in_person(open_request, HOLDER, actor))
    refused(
        PermissionDenied,
        lambda: services.consent_code_send(request=open_request, actor=actor, reason="holder on the phone"),
    )
    assert transfer_snapshot(active) == before


# --- One consent per party, and the request's state ----------------------------------------


def test_the_request_awaits_approval_exactly_while_both_consents_stand(agent_a, agent_b, open_request):
    assert state_of(open_request) == TransferState.AWAITING_CONSENT
    holder_consent = consent_by_code(open_request, actor=agent_b)
    assert state_of(open_request) == TransferState.AWAITING_CONSENT
    in_person(open_request, NEWCOMER, agent_b)
    assert state_of(open_request) == TransferState.AWAITING_APPROVAL

    services.consent_revoke(consent=holder_consent, actor=agent_b, reason="holder changed their mind")
    assert state_of(open_request) == TransferState.AWAITING_CONSENT
    # In person, the holder's consent stands only once a second employee confirms it.
    again = in_person(open_request, HOLDER, agent_a, reason="holder came in: her SIM is broken")
    assert state_of(open_request) == TransferState.AWAITING_CONSENT
    confirm_consent(again, actor=agent_b, reason="holder agrees after all")
    assert state_of(open_request) == TransferState.AWAITING_APPROVAL
    record = open_request.history.first()
    assert (record.history_user, record.history_change_reason) == (agent_b, "holder agrees after all")


@pytest.mark.parametrize("party", ConsentParty.values)
def test_a_party_consents_once(agent_a, agent_b, active, open_request, party):
    first = in_person(open_request, party, agent_b)
    before = transfer_snapshot(active)
    error = refused(ValidationError, lambda: in_person(open_request, party, agent_a))
    assert error.code == "already_consented"
    assert transfer_snapshot(active) == before

    # Once revoked, the party may consent again.
    services.consent_revoke(consent=first, actor=agent_b, reason="recorded with the wrong note")
    again = in_person(open_request, party, agent_a)
    assert list(open_request.consents.filter(revoked_at__isnull=True)) == [again]


def test_no_consent_on_a_closed_request(agent_a, supervisor_a, active, open_request, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    services.transfer_cancel(request=open_request, actor=agent_a, reason="buyer gone")
    before = transfer_snapshot(active)
    for attempt in (
        lambda: in_person(open_request, HOLDER, agent_a),
        lambda: services.consent_record_signed_form(
            request=open_request, party=NEWCOMER, signed_form=_form(), actor=agent_a, reason="form"
        ),
        lambda: services.consent_code_send(request=open_request, actor=agent_a, reason="by phone"),
    ):
        assert refused(ValidationError, attempt).code == "not_open"
    assert transfer_snapshot(active) == before
    assert not list(tmp_path.rglob("*.pdf"))


def test_no_consent_on_an_expired_request(agent_a, active, open_request):
    now = timezone.now()
    back_date(TransferRequest, open_request.pk, created_at=now - timedelta(days=8), expires_at=now - timedelta(days=1))
    before = transfer_snapshot(active)
    error = refused(ValidationError, lambda: in_person(open_request, HOLDER, agent_a))
    assert error.code == "expired"
    assert transfer_snapshot(active) == before


# --- A signed form ----------------------------------------------------------------------------


def _form(content: bytes = b"%PDF-1.4 signed by the holder") -> SimpleUploadedFile:
    return SimpleUploadedFile("consent.pdf", content, content_type="application/pdf")


@pytest.mark.parametrize("party", ConsentParty.values)
def test_consent_by_an_uploaded_signed_form(agent_b, open_request, party, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    consent = services.consent_record_signed_form(
        request=open_request, party=party, signed_form=_form(), actor=agent_b, reason="form scanned"
    )
    consent = TransferConsent.objects.get(pk=consent.pk)
    assert (consent.method, consent.party, consent.captured_by) == (ConsentMethod.SIGNED_FORM, party, agent_b)
    assert consent.signed_form.name.startswith("consents/")
    assert (tmp_path / consent.signed_form.name).read_bytes() == b"%PDF-1.4 signed by the holder"


@pytest.mark.parametrize("form", ["empty", "missing"])
def test_a_signed_form_needs_a_file(agent_b, active, open_request, form, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    upload = _form(b"") if form == "empty" else None
    before = transfer_snapshot(active)
    error = refused(
        ValidationError,
        lambda: services.consent_record_signed_form(
            request=open_request, party=HOLDER, signed_form=upload, actor=agent_b, reason="form scanned"
        ),
    )
    assert error.code == "form_required"
    assert transfer_snapshot(active) == before
    assert not any(path.is_file() for path in tmp_path.rglob("*"))


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("consent.pdf", b"MZ\x90\x00 an executable named like a PDF", "form_kind"),
        ("consent.png", b"<html>not an image</html>", "form_kind"),
        ("consent.pdf", b"%PDF-" + b"0" * (10 * 1024 * 1024), "form_too_large"),
    ],
)
def test_a_signed_form_must_really_be_a_small_scan(
    agent_b, active, open_request, settings, tmp_path, name, content, code
):
    """The first bytes decide, not the name the uploader gave the file."""
    settings.MEDIA_ROOT = tmp_path
    upload = SimpleUploadedFile(name, content, content_type="application/pdf")
    before = transfer_snapshot(active)
    error = refused(
        ValidationError,
        lambda: services.consent_record_signed_form(
            request=open_request, party=HOLDER, signed_form=upload, actor=agent_b, reason="form scanned"
        ),
    )
    assert error.code == code
    assert transfer_snapshot(active) == before
    assert not any(path.is_file() for path in tmp_path.rglob("*"))


@pytest.mark.parametrize(
    ("name", "content", "stored_as"),
    [("Sok Dara ID 0123.PDF", b"%PDF-1.7", ".pdf"), ("x.jpeg", b"\xff\xd8\xff\xe0", ".jpg")],
)
def test_a_signed_form_is_stored_under_a_random_name(
    agent_b, open_request, settings, tmp_path, name, content, stored_as
):
    """The uploader's file name may carry personal data; the stored one carries none."""
    settings.MEDIA_ROOT = tmp_path
    consent = services.consent_record_signed_form(
        request=open_request,
        party=HOLDER,
        signed_form=SimpleUploadedFile(name, content),
        actor=agent_b,
        reason="form scanned",
    )
    stored = consent.signed_form.name
    assert stored.endswith(stored_as) and "Sok" not in stored and "0123" not in stored
    assert (tmp_path / stored).read_bytes() == content


# --- Lapse ------------------------------------------------------------------------------------


def test_consent_lapses_after_the_configured_hours(agent_a, agent_b, open_request, settings):
    consent = in_person(open_request, HOLDER, agent_b)
    assert settings.TRANSFER_CONSENT_VALID_HOURS == 72
    assert consent.lapses_at - consent.captured_at == timedelta(hours=72)

    settings.TRANSFER_CONSENT_VALID_HOURS = 5
    consent = in_person(open_request, NEWCOMER, agent_a)
    assert consent.lapses_at - consent.captured_at == timedelta(hours=5)


def test_consent_never_outlasts_its_request(agent_a, agent_b, active, newcomer):
    request = services.transfer_create(
        number=active, new_subscriber=newcomer, actor=agent_a, reason="quick", expires_in_days=1
    )
    consent = in_person(request, HOLDER, agent_b)
    assert consent.lapses_at == request.expires_at


def test_a_lapsed_consent_stops_standing_and_may_be_given_again(agent_b, supervisor_a, open_request):
    holder_consent = consent_by_code(open_request, actor=agent_b)
    in_person(open_request, NEWCOMER, agent_b)
    assert services.transfer_approval_blockers(request=open_request, actor=supervisor_a) == []

    now = timezone.now()
    back_date(TransferConsent, holder_consent.pk, captured_at=now - timedelta(hours=73), lapses_at=now)
    assert not TransferConsent.objects.get(pk=holder_consent.pk).is_standing()
    assert services.transfer_approval_blockers(request=open_request, actor=supervisor_a) == [
        "No standing consent from the current holder (missing, revoked or lapsed)."
    ]

    renewed = consent_by_code(open_request, actor=agent_b, reason="holder confirms again")
    assert renewed.is_standing()
    # The lapsed consent stays on record, closed with why.
    lapsed = TransferConsent.objects.get(pk=holder_consent.pk)
    assert lapsed.revoked_by == agent_b
    assert lapsed.revocation_reason.startswith("Lapsed on ")
    assert state_of(open_request) == TransferState.AWAITING_APPROVAL
    assert services.transfer_approval_blockers(request=open_request, actor=supervisor_a) == []


# --- Revocation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["agent_a", "agent_b", "supervisor_a"])
def test_consent_is_revoked_before_approval(request, persona, agent_b, open_request):
    actor = request.getfixturevalue(persona)
    consent = consent_by_code(open_request, actor=agent_b)
    in_person(open_request, NEWCOMER, agent_b)

    services.consent_revoke(consent=consent, actor=actor, reason="holder phoned to withdraw")

    consent = TransferConsent.objects.get(pk=consent.pk)
    assert (consent.revoked_by, consent.revocation_reason) == (actor, "holder phoned to withdraw")
    assert consent.revoked_at is not None
    assert state_of(open_request) == TransferState.AWAITING_CONSENT
    assert consent.history.first().history_user == actor


@pytest.mark.parametrize("closing", ["approved", "rejected", "cancelled"])
def test_consent_cannot_be_revoked_once_the_request_is_closed(
    agent_a, agent_b, supervisor_a, active, open_request, closing
):
    consent = consent_by_code(open_request, actor=agent_b)
    in_person(open_request, NEWCOMER, agent_b)
    if closing == "approved":
        services.transfer_approve(request=open_request, actor=supervisor_a, reason="all checked")
    elif closing == "rejected":
        services.transfer_reject(request=open_request, actor=supervisor_a, reason="doubtful")
    else:
        services.transfer_cancel(request=open_request, actor=agent_a, reason="buyer gone")
    before = transfer_snapshot(active)

    error = refused(ValidationError, lambda: services.consent_revoke(consent=consent, actor=agent_b, reason="too late"))

    assert error.code == "not_open"
    assert "only be revoked before approval" in error.messages[0]
    assert transfer_snapshot(active) == before


def test_a_revocation_needs_a_reason_and_happens_once(agent_b, active, open_request):
    consent = in_person(open_request, HOLDER, agent_b)
    before = transfer_snapshot(active)
    assert refused(
        ValidationError, lambda: services.consent_revoke(consent=consent, actor=agent_b, reason="")
    ).code == ("reason_required")
    assert transfer_snapshot(active) == before
    services.consent_revoke(consent=consent, actor=agent_b, reason="changed mind")
    before = transfer_snapshot(active)
    error = refused(ValidationError, lambda: services.consent_revoke(consent=consent, actor=agent_b, reason="again"))
    assert error.code == "already_revoked"
    assert transfer_snapshot(active) == before


@pytest.mark.parametrize("persona", ["agent_c", "supervisor_b", "handler_a", "auditor"])
def test_staff_of_another_branch_cannot_revoke(request, persona, agent_b, active, open_request):
    actor = request.getfixturevalue(persona)
    consent = in_person(open_request, HOLDER, agent_b)
    before = transfer_snapshot(active)
    refused(PermissionDenied, lambda: services.consent_revoke(consent=consent, actor=actor, reason="no"))
    assert transfer_snapshot(active) == before


# --- The one-time code -------------------------------------------------------------------------


def send_code(request, actor, capture) -> tuple[ConsentCode, str]:
    """Send a code and read it back from the SMS, as the holder would."""
    code, sent = with_sms(capture, lambda: services.consent_code_send(request=request, actor=actor, reason="by phone"))
    assert [message.purpose for message in sent] == [SmsPurpose.CONSENT_CODE]
    return code, code_sent_to(request.number.msisdn)


def verify(request, code, actor):
    return services.consent_code_verify(request=request, code=code, actor=actor, reason="holder read the code back")


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


@pytest.fixture
def capture(django_capture_on_commit_callbacks, handset):
    """Run on-commit deliveries; codes reach the development phone, read as the holder would."""
    return django_capture_on_commit_callbacks


def test_a_code_goes_to_the_number_itself_and_only_its_hash_is_kept(agent_b, active, open_request, capture, settings):
    code, sent = with_sms(
        capture, lambda: services.consent_code_send(request=open_request, actor=agent_b, reason="holder on the phone")
    )
    # To the number only: whoever has the SIM is the holder; a contact number is not.
    assert [message.to_msisdn for message in sent] == [active.msisdn]
    plaintext = code_sent_to(active.msisdn)
    assert len(plaintext) == 6 and plaintext.isdigit()
    assert f"ref T-{open_request.pk}" in sent[0].body
    # The outbox keeps the code masked: only the handset's text carries it.
    assert sent[0].body.startswith("•••••• is your code") and plaintext not in sent[0].body

    code = ConsentCode.objects.get(pk=code.pk)
    assert (code.request, code.sent_to, code.sent_by, code.attempts) == (open_request, active.msisdn, agent_b, 0)
    assert plaintext not in code.code_hash
    assert code.expires_at - code.created_at == timedelta(minutes=settings.TRANSFER_CODE_TTL_MINUTES)
    assert code.used_at is None and code.superseded_at is None


def test_the_holder_consents_with_the_right_code(agent_b, open_request, capture):
    challenge, plaintext = send_code(open_request, agent_b, capture)
    consent = verify(open_request, plaintext, agent_b)

    consent = TransferConsent.objects.get(pk=consent.pk)
    assert (consent.party, consent.subscriber, consent.method) == (
        HOLDER,
        open_request.from_holder,
        ConsentMethod.SMS_CODE,
    )
    assert consent.code == challenge
    assert ConsentCode.objects.get(pk=challenge.pk).used_at == consent.captured_at
    assert consent.history.first().history_change_reason == "holder read the code back"


def test_a_code_is_used_once(agent_b, active, open_request, capture):
    _, plaintext = send_code(open_request, agent_b, capture)
    consent = verify(open_request, plaintext, agent_b)
    services.consent_revoke(consent=consent, actor=agent_b, reason="holder withdrew")
    before = transfer_snapshot(active)

    error = refused(ValidationError, lambda: verify(open_request, plaintext, agent_b))

    assert "No code is waiting" in error.messages[0]
    assert transfer_snapshot(active) == before
    # A new code works.
    _, fresh = send_code(open_request, agent_b, capture)
    assert verify(open_request, fresh, agent_b).method == ConsentMethod.SMS_CODE


def test_an_expired_code_is_refused(agent_b, active, open_request, capture, settings):
    challenge, plaintext = send_code(open_request, agent_b, capture)
    ttl = timedelta(minutes=settings.TRANSFER_CODE_TTL_MINUTES)
    now = timezone.now()
    back_date(ConsentCode, challenge.pk, created_at=now - ttl - timedelta(minutes=1), expires_at=now)
    before = transfer_snapshot(active)

    error = refused(ValidationError, lambda: verify(open_request, plaintext, agent_b))

    assert error.code == "code_expired"
    assert transfer_snapshot(active) == before


def test_the_code_lives_as_long_as_the_setting_says(agent_b, open_request, capture, settings):
    settings.TRANSFER_CODE_TTL_MINUTES = 3
    challenge, _ = send_code(open_request, agent_b, capture)
    assert challenge.expires_at - challenge.created_at == timedelta(minutes=3)


def test_wrong_codes_are_counted_and_lock_the_code(agent_b, active, open_request, capture, settings):
    """Each wrong try is kept although the call fails; after the last one even the
    right code is refused."""
    challenge, plaintext = send_code(open_request, agent_b, capture)
    tries = settings.TRANSFER_CODE_MAX_ATTEMPTS
    assert tries == 3

    for attempt in range(1, tries + 1):
        # Not in a savepoint of our own: rolling that back would undo the count.
        with pytest.raises(ValidationError) as exc:
            verify(open_request, wrong(plaintext), agent_b)
        error = exc.value
        assert ConsentCode.objects.get(pk=challenge.pk).attempts == attempt
        if attempt < tries:
            assert error.code == "wrong_code"
            assert error.messages == [f"Wrong code. {tries - attempt} tries left."]
        else:
            assert error.code == "code_locked"
    assert not open_request.consents.exists()

    before = transfer_snapshot(active)
    error = refused(ValidationError, lambda: verify(open_request, plaintext, agent_b))
    assert error.code == "code_locked"
    assert transfer_snapshot(active) == before
    assert not open_request.consents.exists()

    # A new code starts afresh.
    _, fresh = send_code(open_request, agent_b, capture)
    assert verify(open_request, fresh, agent_b).method == ConsentMethod.SMS_CODE


def test_a_wrong_try_below_the_limit_still_lets_the_right_code_in(agent_b, open_request, capture):
    challenge, plaintext = send_code(open_request, agent_b, capture)
    for attempt in ("abcdef", wrong(plaintext)):
        with pytest.raises(ValidationError):
            verify(open_request, attempt, agent_b)
    assert ConsentCode.objects.get(pk=challenge.pk).attempts == 2
    assert verify(open_request, plaintext, agent_b).method == ConsentMethod.SMS_CODE


@pytest.mark.django_db(transaction=True)
def test_a_wrong_try_is_committed_although_the_call_fails(agent_a, agent_b, branch_a, capture):
    """Outside any test transaction: the count must survive the refusal for real."""
    number = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    request = services.transfer_create(number=number, new_subscriber=SubscriberFactory(), actor=agent_a, reason="x")
    challenge, plaintext = send_code(request, agent_b, capture)
    with pytest.raises(ValidationError):
        verify(request, wrong(plaintext), agent_b)
    assert ConsentCode.objects.get(pk=challenge.pk).attempts == 1


def test_a_new_code_supersedes_the_old_one(agent_b, active, open_request, capture):
    first, old = send_code(open_request, agent_b, capture)
    second, new = send_code(open_request, agent_b, capture)
    assert old != new  # one chance in a million that two random codes coincide
    assert ConsentCode.objects.get(pk=first.pk).superseded_at == second.created_at
    assert ConsentCode.objects.get(pk=second.pk).superseded_at is None

    # A wrong try is counted on the standing code, and that count commits.
    error = refused(ValidationError, lambda: verify(open_request, old, agent_b), kept=[ConsentCode])
    assert error.code == "wrong_code"
    assert verify(open_request, new, agent_b).code == second


def test_codes_per_request_are_limited(agent_b, active, open_request, capture, settings):
    for _ in range(settings.TRANSFER_CODE_MAX_SENDS):
        send_code(open_request, agent_b, capture)
    before = transfer_snapshot(active)

    error = refused_quietly(
        capture, ValidationError, lambda: services.consent_code_send(request=open_request, actor=agent_b, reason="x")
    )

    assert error.code == "too_many_codes"
    assert transfer_snapshot(active) == before
    assert ConsentCode.objects.filter(request=open_request).count() == settings.TRANSFER_CODE_MAX_SENDS


def test_no_code_once_the_holder_has_consented(agent_b, active, open_request, capture):
    in_person(open_request, HOLDER, agent_b)
    before = transfer_snapshot(active)
    error = refused_quietly(
        capture, ValidationError, lambda: services.consent_code_send(request=open_request, actor=agent_b, reason="x")
    )
    assert error.code == "already_consented"
    assert transfer_snapshot(active) == before


def test_the_code_speaks_only_for_the_holder(agent_b, open_request, capture):
    """The new subscriber's consent never comes by code: the code reaches the SIM."""
    in_person(open_request, NEWCOMER, agent_b)
    _, plaintext = send_code(open_request, agent_b, capture)
    consent = verify(open_request, plaintext, agent_b)
    assert (consent.party, consent.subscriber) == (HOLDER, open_request.from_holder)
    assert state_of(open_request) == TransferState.AWAITING_APPROVAL


def test_no_code_to_a_number_that_is_no_longer_active(agent_a, agent_b, active, open_request, capture):
    services.number_transition(number=active, to_status=NumberStatus.SUSPENDED, actor=agent_a, reason="unpaid")
    before = transfer_snapshot(active)
    error = refused_quietly(
        capture, ValidationError, lambda: services.consent_code_send(request=open_request, actor=agent_b, reason="x")
    )
    assert error.code == "holder_changed"
    assert transfer_snapshot(active) == before


def test_a_code_cannot_be_verified_once_the_number_is_suspended(agent_a, agent_b, active, open_request, capture):
    _, plaintext = send_code(open_request, agent_b, capture)
    services.number_transition(number=active, to_status=NumberStatus.SUSPENDED, actor=agent_a, reason="unpaid")
    before = transfer_snapshot(active)
    error = refused(ValidationError, lambda: verify(open_request, plaintext, agent_b))
    assert error.code == "holder_changed"
    assert transfer_snapshot(active) == before
