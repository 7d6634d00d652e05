"""factory-boy factories. Numbers are created available and moved by the services,
so test data obeys the same rules as real data."""

from __future__ import annotations

from unittest import mock

import factory
from django.core.files.uploadedfile import SimpleUploadedFile

from demo.numbers_seed import PATH_TO, withdraw_as_lifecycle
from numbers import services
from numbers.choices import ConsentParty, IdentityDocumentType, NumberStatus
from numbers.identity import document_hash, document_last4, seal_document, unseal_document
from numbers.models import Branch, MobileNumber, Subscriber


class BranchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Branch
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"branch-{n}")
    name = factory.LazyAttribute(lambda o: f"Branch {o.code}")


class SubscriberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscriber

    class Params:
        # What the customer's card says; the record keeps only its hash, last characters and seal.
        id_document_number = factory.Sequence(lambda n: f"ID{n:08d}")

    full_name = factory.Faker("name")
    id_document_type = IdentityDocumentType.NATIONAL_ID
    id_document_hash = factory.LazyAttribute(lambda o: document_hash(o.id_document_number))
    id_document_last4 = factory.LazyAttribute(lambda o: document_last4(o.id_document_number))
    id_document_sealed = factory.LazyAttribute(lambda o: seal_document(o.id_document_number))
    contact_msisdn = factory.Sequence(lambda n: f"+8559260{n % 10000:04d}")


def document_of(subscriber: Subscriber) -> str:
    """The document number a subscriber shows at the counter: tests play the customer,
    who knows it; no screen or staff member can read it back."""
    return unseal_document(subscriber.id_document_sealed)


class MobileNumberFactory(factory.django.DjangoModelFactory):
    """An available number; use ``number_in_state`` for any other state."""

    class Meta:
        model = MobileNumber

    msisdn = factory.Sequence(lambda n: f"+8551230{n % 10000:04d}")
    branch = factory.SubFactory(BranchFactory)
    status = NumberStatus.AVAILABLE


def number_in_state(state: str, *, actor, branch=None, subscriber=None, **kwargs) -> MobileNumber:
    """Drive a new number to ``state`` through the services (acting as ``actor``)."""
    number = MobileNumberFactory(**({"branch": branch} if branch else {}), **kwargs)
    for step in PATH_TO[state]:
        if step == "sale":
            number = services.number_sell(
                number=number, subscriber=subscriber or SubscriberFactory(), actor=actor, reason="test sale"
            )
        elif step == NumberStatus.WITHDRAWN:
            # By hand only a withdrawal request does this; set-up withdraws as the lifecycle job does.
            number = withdraw_as_lifecycle(number, actor=actor, reason="test withdrawal")
        else:
            number = services.number_transition(number=number, to_status=step, actor=actor, reason=f"test {step}")
    return number


def transfer_request(*, actor, branch, number=None, new_subscriber=None, reason: str = "test transfer"):
    """An open transfer request (awaiting consent) for an active number of ``branch``."""
    number = number or number_in_state(NumberStatus.ACTIVE, actor=actor, branch=branch)
    return services.transfer_create(
        number=number, new_subscriber=new_subscriber or SubscriberFactory(), actor=actor, reason=reason
    )


# The smallest PNG a document photo can be: the services check the first bytes.
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def document_photo(name: str = "document.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PNG_BYTES, content_type="image/png")


def consent_in_person(request, party: str, *, actor, reason: str = "identity checked at the counter", photo=True):
    """Record ``party``'s consent with the identity document on record (with a photo
    of it for the holder; that consent counts only once ``confirm_consent`` ran)."""
    subscriber = request.from_holder if party == ConsentParty.CURRENT_HOLDER else request.to_subscriber
    return services.consent_record_in_person(
        request=request,
        party=party,
        document_type=subscriber.id_document_type,
        document_number=document_of(subscriber),
        document_photo=document_photo() if photo and party == ConsentParty.CURRENT_HOLDER else None,
        actor=actor,
        reason=reason,
    )


HOLDER_CODE = 424242


def consent_by_code(request, *, actor, reason: str = "holder read back the code sent to the number"):
    """The holder's consent by the one-time code sent to the number. The test plays
    the holder's handset: it fixes the code drawn (the outbox keeps it masked)."""
    with mock.patch("secrets.randbelow", return_value=HOLDER_CODE):
        services.consent_code_send(request=request, actor=actor, reason="holder present with the SIM")
    return services.consent_code_verify(request=request, code=f"{HOLDER_CODE:06d}", actor=actor, reason=reason)


def confirm_consent(consent, *, actor, reason: str = "saw the holder and the document myself"):
    """A second employee of the branch confirms the check of the holder's consent."""
    return services.transfer_confirm_consent(consent=consent, actor=actor, reason=reason)


def transfer_awaiting_approval(*, actor, branch, **kwargs):
    """A request with both consents captured by ``actor`` (so ``actor`` cannot approve
    it): the holder's by the code sent to the number, the new subscriber's in person."""
    request = transfer_request(actor=actor, branch=branch, **kwargs)
    consent_by_code(request, actor=actor)
    consent_in_person(request, ConsentParty.NEW_SUBSCRIBER, actor=actor)
    request.refresh_from_db()
    return request
