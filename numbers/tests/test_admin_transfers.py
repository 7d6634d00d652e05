"""The transfer evidence in the admin: read-only and branch-scoped lists of requests,
consents and locks, the SMS outbox, the transfer lock buttons on a number's page,
and the requests shown on number and subscriber pages."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from numbers import services
from numbers.choices import ConsentParty, IdentityDocumentType, NumberStatus, TransferState
from numbers.models import MobileNumber, TransferConsent, TransferLock, TransferRequest
from sms.choices import SmsPurpose
from sms.models import SmsMessage
from sms.services import sms_send
from staff import services as staff_services
from staff.choices import EmploymentStatus
from tests.factories import (
    SubscriberFactory,
    consent_in_person,
    document_of,
    number_in_state,
    transfer_awaiting_approval,
    transfer_request,
)

# Personas are loaded lazily (request.getfixturevalue): the mark opens the database first.
pytestmark = pytest.mark.django_db

REQUESTS = "/admin/numbers/transferrequest/"
CONSENTS = "/admin/numbers/transferconsent/"
LOCKS = "/admin/numbers/transferlock/"
OUTBOX = "/admin/sms/smsmessage/"
ADMIN_LISTS = [REQUESTS, CONSENTS, LOCKS]


# --- Helpers ------------------------------------------------------------------


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def listed(response) -> set[int]:
    assert response.status_code == 200
    return {obj.pk for obj in response.context["cl"].result_list}


def number_url(number) -> str:
    return reverse("admin:numbers_mobilenumber_change", args=[number.pk])


def lock_url(number) -> str:
    return reverse("admin:numbers_mobilenumber_lock", args=[number.pk])


def lift_url(number) -> str:
    return reverse("admin:numbers_mobilenumber_lift", args=[number.pk])


def request_url(transfer) -> str:
    return reverse("admin:numbers_transferrequest_change", args=[transfer.pk])


def create_screen_for(number) -> str:
    return reverse("numbers:transfer_create") + "?msisdn=" + number.msisdn.replace("+", "%2B")


def locks_of(number) -> list[tuple]:
    """Every lock of the number with its lifting and history: all stay put when nothing changes."""
    return [
        (lock.pk, lock.lifted_at, lock.lifted_by_id, lock.history.count())
        for lock in TransferLock.objects.filter(number=number).order_by("pk")
    ]


def number_state(number) -> tuple:
    number.refresh_from_db()
    return number.status, number.holder_id, number.history.count()


def lock_number(number, actor, reason="Holder asked at the counter"):
    return services.transfer_lock_place(number=number, actor=actor, reason=reason)


@pytest.fixture
def transfers(agent_a, agent_c, branch_a, branch_b):
    """One request awaiting approval in each branch (both consents taken by its requester),
    and a lock on another held number in each branch."""
    a = transfer_awaiting_approval(actor=agent_a, branch=branch_a)
    b = transfer_awaiting_approval(actor=agent_c, branch=branch_b)
    lock_a = lock_number(number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a), agent_a)
    lock_b = lock_number(number_in_state(NumberStatus.ACTIVE, actor=agent_c, branch=branch_b), agent_c)
    return {"a": a, "b": b, "lock_a": lock_a, "lock_b": lock_b}


# --- Lists: scoped to the user's branches ------------------------------------------


BRANCH_A_ONLY = {"agent_a", "agent_b", "supervisor_a", "handler_a"}
BRANCH_B_ONLY = {"agent_c", "supervisor_b"}
EVERY_BRANCH = {"auditor", "admin_user"}


def expected_branches(persona: str) -> set[str]:
    if persona in EVERY_BRANCH:
        return {"a", "b"}
    return {"a"} if persona in BRANCH_A_ONLY else {"b"}


@pytest.mark.parametrize("persona", sorted(BRANCH_A_ONLY | BRANCH_B_ONLY | EVERY_BRANCH))
def test_transfer_lists_show_only_the_users_branches(request, client, transfers, persona):
    client.force_login(request.getfixturevalue(persona))
    branches = expected_branches(persona)

    requests = {transfers[key].pk for key in branches}
    assert listed(client.get(REQUESTS)) == requests
    consents = set(TransferConsent.objects.filter(request__in=requests).values_list("pk", flat=True))
    assert len(consents) == 2 * len(requests)
    assert listed(client.get(CONSENTS)) == consents
    assert listed(client.get(LOCKS)) == {transfers[f"lock_{key}"].pk for key in branches}


@pytest.mark.parametrize(("persona", "foreign"), [("agent_c", "a"), ("agent_a", "b"), ("supervisor_b", "a")])
def test_another_branchs_transfer_records_do_not_exist_for_the_user(request, client, transfers, persona, foreign):
    """Not in the list, not by URL, not through the history pages."""
    client.force_login(request.getfixturevalue(persona))
    hidden_request = transfers[foreign]
    hidden = {
        "transferrequest": hidden_request,
        "transferconsent": hidden_request.consents.first(),
        "transferlock": transfers[f"lock_{foreign}"],
    }
    for model, obj in hidden.items():
        page = client.get(f"/admin/numbers/{model}/{obj.pk}/change/")
        assert page.status_code == 302
        assert any("doesn’t exist" in message for message in messages_of(page))
        history = client.get(f"/admin/numbers/{model}/{obj.pk}/history/")
        assert history.status_code in (403, 404), model
    assert listed(client.get(REQUESTS, {"q": hidden_request.number.msisdn})) == set()

    own = transfers["b" if foreign == "a" else "a"]
    assert client.get(request_url(own)).status_code == 200
    assert client.get(f"/admin/numbers/transferrequest/{own.pk}/history/").status_code == 200


def test_history_versions_are_read_in_the_branch_and_never_posted_back(client, agent_a, agent_c, transfers):
    records = [transfers["a"], transfers["a"].consents.first(), transfers["lock_a"]]
    urls = [
        f"/admin/numbers/{record._meta.model_name}/{record.pk}/history/{record.history.first().history_id}/"
        for record in records
    ]
    client.force_login(agent_a)
    for url in urls:
        assert client.get(url).status_code == 200, url
        assert client.post(url, {"change_reason": "Revert"}).status_code == 403, url
    client.force_login(agent_c)
    for url in urls:
        # Out of the user's scope, as the change page: not found (its list page says so too).
        assert client.get(url).status_code == 404, url


def test_branch_filter_lists_only_the_users_branches(client, agent_a, auditor, transfers, branch_a, branch_b):
    for user, expected in ((agent_a, {str(branch_a)}), (auditor, {str(branch_a), str(branch_b)})):
        client.force_login(user)
        for url in ADMIN_LISTS:
            filters = client.get(url).context["cl"].filter_specs
            specs = [spec for spec in filters if getattr(spec, "parameter_name", "") == "branch"]
            assert {label for _, label in specs[0].lookup_choices} == expected, url
    client.force_login(agent_a)
    assert listed(client.get(REQUESTS, {"branch": branch_b.pk})) == set()
    assert listed(client.get(REQUESTS, {"branch": branch_a.pk})) == {transfers["a"].pk}


def test_state_filter(client, supervisor_a, agent_a, transfers, branch_a):
    waiting = transfer_request(actor=agent_a, branch=branch_a)
    client.force_login(supervisor_a)
    assert listed(client.get(REQUESTS, {"state": TransferState.AWAITING_CONSENT})) == {waiting.pk}
    assert listed(client.get(REQUESTS, {"state": TransferState.AWAITING_APPROVAL})) == {transfers["a"].pk}


@pytest.mark.parametrize("term", ["{national}", "{spaced}", "{e164}", "{digits}"])
def test_request_search_finds_the_number_in_any_format(client, agent_a, transfers, agent_b, branch_a, term):
    other = transfer_request(actor=agent_b, branch=branch_a)
    msisdn = transfers["a"].number.msisdn  # +8551230xxxx
    typed = term.format(
        national="0" + msisdn[4:], spaced=f"+855 {msisdn[4:6]} {msisdn[6:]}", e164=msisdn, digits=msisdn[1:]
    )
    client.force_login(agent_a)
    assert listed(client.get(REQUESTS, {"q": typed})) == {transfers["a"].pk}
    assert listed(client.get(REQUESTS, {"q": other.number.msisdn})) == {other.pk}
    assert listed(client.get(CONSENTS, {"q": typed})) == set(transfers["a"].consents.values_list("pk", flat=True))
    assert listed(client.get(REQUESTS, {"q": "not a number"})) == set()


def test_lock_filter_in_force_or_lifted(client, agent_a, transfers):
    lock = transfers["lock_a"]
    holder = lock.subscriber
    lifted = services.transfer_lock_lift(
        number=lock.number,
        document_type=holder.id_document_type,
        document_number=document_of(holder),
        actor=agent_a,
        reason="Holder lifted it",
    )
    standing = lock_number(lock.number, agent_a)
    client.force_login(agent_a)
    assert listed(client.get(LOCKS, {"lock": "active"})) == {standing.pk}
    assert listed(client.get(LOCKS, {"lock": "lifted"})) == {lifted.pk}


# --- Read-only for everyone, the superuser included -----------------------------------


@pytest.mark.parametrize("persona", ["admin_user", "supervisor_a", "agent_a", "auditor"])
def test_transfer_records_cannot_be_added_changed_or_deleted_in_the_admin(request, client, transfers, persona):
    client.force_login(request.getfixturevalue(persona))
    transfer = transfers["a"]
    records = {
        "transferrequest": transfer,
        "transferconsent": transfer.consents.get(party=ConsentParty.CURRENT_HOLDER),
        "transferlock": transfers["lock_a"],
    }
    before = {model: (type(obj).objects.count(), obj.history.count()) for model, obj in records.items()}
    for model, obj in records.items():
        base = f"/admin/numbers/{model}/"
        page = client.get(f"{base}{obj.pk}/change/")
        assert page.status_code == 200
        content = page.content.decode()
        assert 'name="_save"' not in content and 'name="_continue"' not in content
        assert page.context["adminform"].form.fields.keys() <= {"change_reason"}
        changed = client.post(f"{base}{obj.pk}/change/", {"state": "executed", "change_reason": "Force it"})
        assert changed.status_code == 403
        assert client.get(f"{base}{obj.pk}/delete/").status_code == 403
        assert client.post(f"{base}{obj.pk}/delete/", {"post": "yes"}).status_code == 403
        listing = client.get(base)
        assert listing.context["action_form"] is None  # no bulk delete, no action at all
        client.post(base, {"action": "delete_selected", "_selected_action": [obj.pk]})
        if model != "transferrequest":
            assert client.get(f"{base}add/").status_code == 403
            assert client.post(f"{base}add/", {"change_reason": "Forge it"}).status_code == 403
    transfer.refresh_from_db()
    assert transfer.state == TransferState.AWAITING_APPROVAL
    assert {model: (type(obj).objects.count(), obj.history.count()) for model, obj in records.items()} == before


def test_admin_add_of_a_transfer_request_leads_to_the_transfer_screen(client, agent_a, auditor, transfers):
    """No admin form makes a request: counter staff go to the screen that asks for consents."""
    create_screen = reverse("numbers:transfer_create")
    count = TransferRequest.objects.count()
    client.force_login(agent_a)
    listing = client.get(REQUESTS).content.decode()
    assert f'href="{create_screen}"' in listing
    assert 'href="/admin/numbers/transferrequest/add/"' not in listing
    for response in (client.get(f"{REQUESTS}add/"), client.post(f"{REQUESTS}add/", {"number": "1", "reason": "x"})):
        assert response.status_code == 302
        assert response["Location"] == create_screen

    # The auditor may not request transfers anywhere: no link, and "add" is forbidden.
    client.force_login(auditor)
    assert f'href="{create_screen}"' not in client.get(REQUESTS).content.decode()
    assert client.get(f"{REQUESTS}add/").status_code == 403
    assert client.post(f"{REQUESTS}add/", {"number": "1", "reason": "x"}).status_code == 403
    assert TransferRequest.objects.count() == count


# --- The request page ----------------------------------------------------------------


def test_request_page_shows_both_consents_with_masked_documents_only(client, agent_a, branch_a):
    holder = SubscriberFactory(full_name="Sokha Holder", id_document_number="KH00112233")
    newcomer = SubscriberFactory(full_name="Dara Newcomer", id_document_number="KH99887766")
    number = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a, subscriber=holder)
    transfer = transfer_awaiting_approval(actor=agent_a, branch=branch_a, number=number, new_subscriber=newcomer)
    client.force_login(agent_a)

    page = client.get(request_url(transfer))

    content = page.content.decode()
    consents = page.context["inline_admin_formsets"][0].formset.forms
    assert {form.instance.party for form in consents} == {ConsentParty.CURRENT_HOLDER, ConsentParty.NEW_SUBSCRIBER}
    assert "Sokha Holder" in content and "Dara Newcomer" in content
    assert "••••2233" in content and "••••7766" in content
    for page_url in (request_url(transfer), CONSENTS, *[f"{CONSENTS}{c.instance.pk}/change/" for c in consents]):
        shown = client.get(page_url).content.decode()
        assert "KH00112233" not in shown and "KH99887766" not in shown, page_url


@pytest.mark.parametrize(("persona", "approval_link"), [("supervisor_a", True), ("agent_a", False), ("auditor", False)])
def test_request_page_links_to_the_transfer_screens(request, client, transfers, persona, approval_link):
    transfer = transfers["a"]
    client.force_login(request.getfixturevalue(persona))
    content = client.get(request_url(transfer)).content.decode()
    assert f'href="{reverse("numbers:transfer_detail", args=[transfer.pk])}"' in content
    assert "Open in the transfer screen" in content
    assert (f'href="{reverse("numbers:approval_detail", args=[transfer.pk])}"' in content) is approval_link


# --- The number's page: its requests and its lock ---------------------------------------


def test_number_page_lists_its_requests_newest_first(client, agent_a, agent_b, supervisor_a, branch_a):
    number = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    rejected = transfer_request(actor=agent_b, branch=branch_a, number=number)
    services.transfer_reject(request=rejected, actor=supervisor_a, reason="Holder never asked")
    current = transfer_request(actor=agent_a, branch=branch_a, number=number)
    other = transfer_request(actor=agent_a, branch=branch_a)  # another number's
    client.force_login(agent_a)

    page = client.get(number_url(number))

    assert [row.pk for row in page.context["transfer_requests"]] == [current.pk, rejected.pk]
    content = page.content.decode()
    assert request_url(other) not in content
    for transfer in (current, rejected):
        assert request_url(transfer) in content
        assert reverse("numbers:transfer_detail", args=[transfer.pk]) in content
        assert transfer.to_subscriber.full_name in content
    assert "Rejected" in content and "Awaiting consent" in content
    assert "supervisor_a" in content and "agent_b" in content
    assert number.holder.full_name in content


def test_number_page_says_whether_it_is_locked(client, agent_a, auditor, branch_a):
    number = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    client.force_login(auditor)
    page = client.get(number_url(number))
    assert page.context["transfer_lock"] is None
    assert "Not locked against transfers" in page.content.decode()

    lock_number(number, agent_a, reason="Suspicious call")
    page = client.get(number_url(number))
    assert page.context["transfer_lock"].number_id == number.pk
    content = page.content.decode()
    assert "Locked against transfers" in content and "Suspicious call" in content


def test_subscriber_page_lists_requests_on_both_sides_in_the_users_branches(
    client, agent_a, agent_c, auditor, branch_a, branch_b
):
    subscriber = SubscriberFactory(registered_branch=branch_a)
    number = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a, subscriber=subscriber)
    giving = transfer_request(actor=agent_a, branch=branch_a, number=number)  # as the current holder
    receiving = transfer_request(actor=agent_c, branch=branch_b, new_subscriber=subscriber)  # as the new one
    unrelated = transfer_request(actor=agent_a, branch=branch_a)

    def shown(user) -> list[int]:
        client.force_login(user)
        page = client.get(reverse("admin:numbers_subscriber_change", args=[subscriber.pk]))
        assert page.status_code == 200
        content = page.content.decode()
        assert request_url(unrelated) not in content
        rows = [row.pk for row in page.context["transfer_requests"]]
        assert all(request_url(TransferRequest(pk=pk)) in content for pk in rows)
        return rows

    assert shown(auditor) == [receiving.pk, giving.pk]
    assert shown(agent_a) == [giving.pk]
    assert shown(agent_c) == [receiving.pk]


# --- Lock and lift buttons ----------------------------------------------------------


def buttons(client, number) -> dict[str, bool]:
    content = client.get(number_url(number)).content.decode()
    return {
        "lock": lock_url(number) in content,
        "lift": lift_url(number) in content,
        "request": create_screen_for(number) in content,
    }


def test_agent_locks_a_held_number_and_the_holder_lifts_it_in_person(client, agent_a, branch_a):
    holder = SubscriberFactory(id_document_type=IdentityDocumentType.PASSPORT, id_document_number="N0123456")
    number = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a, subscriber=holder)
    client.force_login(agent_a)
    assert buttons(client, number) == {"lock": True, "lift": False, "request": True}

    assert client.get(lock_url(number)).status_code == 200
    locked = client.post(lock_url(number), {"reason": "Holder fears a SIM swap"})

    assert locked.status_code == 302
    assert locked["Location"] == number_url(number)
    lock = TransferLock.objects.get(number=number)
    assert (lock.subscriber, lock.placed_by, lock.place_reason, lock.is_active) == (
        holder,
        agent_a,
        "Holder fears a SIM swap",
        True,
    )
    assert lock.history.get().history_change_reason == "Holder fears a SIM swap"
    assert buttons(client, number) == {"lock": False, "lift": True, "request": False}

    form = client.get(lift_url(number))
    assert form.status_code == 200
    assert holder.full_name in form.content.decode()
    assert "N0123456" not in form.content.decode()
    lifted = client.post(
        lift_url(number),
        {"document_type": IdentityDocumentType.PASSPORT, "document_number": "n0-123 456", "reason": "Holder here"},
    )

    assert lifted.status_code == 302
    lock.refresh_from_db()
    assert (lock.is_active, lock.lifted_by, lock.lift_reason) == (False, agent_a, "Holder here")
    assert "N0123456" not in lock.lift_evidence and "3456" in lock.lift_evidence
    assert buttons(client, number) == {"lock": True, "lift": False, "request": True}


@pytest.mark.parametrize(
    "shown",
    [
        {"document_type": IdentityDocumentType.PASSPORT, "document_number": "N0123457"},
        {"document_type": IdentityDocumentType.NATIONAL_ID, "document_number": "N0123456"},
        {"document_type": IdentityDocumentType.PASSPORT, "document_number": "  "},
    ],
    ids=["wrong-number", "wrong-type", "blank"],
)
def test_lifting_with_another_document_is_refused_and_the_lock_stays(client, agent_a, branch_a, shown):
    holder = SubscriberFactory(id_document_type=IdentityDocumentType.PASSPORT, id_document_number="N0123456")
    number = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a, subscriber=holder)
    lock_number(number, agent_a)
    before = (locks_of(number), number_state(number))
    client.force_login(agent_a)

    response = client.post(lift_url(number), {**shown, "reason": "Somebody asks to lift it"})

    assert response.status_code == 200
    refused = messages_of(response) + [str(error) for error in response.context["form"].errors.values()]
    assert any("does not match" in text or "required" in text for text in refused), refused
    assert (locks_of(number), number_state(number)) == before


@pytest.mark.parametrize("persona", ["auditor", "handler_a"])
def test_staff_who_do_not_operate_the_branch_get_no_buttons_and_403(request, client, agent_a, branch_a, persona):
    """handler_a sees branch A's numbers but does not operate it; the auditor sees everything."""
    free = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    locked = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    lock_number(locked, agent_a)
    before = {number.pk: (locks_of(number), number_state(number)) for number in (free, locked)}
    client.force_login(request.getfixturevalue(persona))

    assert buttons(client, free) == {"lock": False, "lift": False, "request": False}
    assert buttons(client, locked) == {"lock": False, "lift": False, "request": False}
    holder = locked.holder
    for response in (
        client.get(lock_url(free)),
        client.post(lock_url(free), {"reason": "Lock it"}),
        client.get(lift_url(locked)),
        client.post(
            lift_url(locked),
            {"document_type": holder.id_document_type, "document_number": document_of(holder), "reason": "x"},
        ),
    ):
        assert response.status_code == 403
    assert {number.pk: (locks_of(number), number_state(number)) for number in (free, locked)} == before


def test_an_agent_of_another_branch_cannot_reach_the_lock_screens(client, agent_a, agent_c, branch_b):
    number = number_in_state(NumberStatus.ACTIVE, actor=agent_c, branch=branch_b)
    client.force_login(agent_a)
    assert client.post(lock_url(number), {"reason": "Not my branch"}).status_code == 404
    assert not TransferLock.objects.filter(number=number).exists()
    client.force_login(agent_c)
    assert client.post(lock_url(number), {"reason": "My branch"}).status_code == 302
    assert TransferLock.objects.get(number=number).placed_by == agent_c


@pytest.mark.parametrize("status", [NumberStatus.AVAILABLE, NumberStatus.RESERVED, NumberStatus.WITHDRAWN])
def test_an_unheld_number_cannot_be_locked(client, admin_user, agent_a, branch_a, status):
    number = number_in_state(status, actor=admin_user, branch=branch_a)
    before = number_state(number)
    client.force_login(agent_a)
    assert buttons(client, number) == {"lock": False, "lift": False, "request": False}

    shown = client.get(lock_url(number))
    assert shown.status_code == 302 and shown["Location"] == number_url(number)
    assert any("no holder" in message for message in messages_of(shown))
    refused = client.post(lock_url(number), {"reason": "Lock it anyway"})
    assert refused.status_code == 200
    assert any("has no holder" in message for message in messages_of(refused))
    assert not TransferLock.objects.filter(number=number).exists()
    assert number_state(number) == before


def test_a_locked_number_is_not_locked_twice_and_an_unlocked_one_not_lifted(client, agent_a, branch_a):
    locked = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    lock_number(locked, agent_a)
    free = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    before = {number.pk: locks_of(number) for number in (locked, free)}
    client.force_login(agent_a)

    assert client.get(lock_url(locked)).status_code == 302
    again = client.post(lock_url(locked), {"reason": "Lock again"})
    assert again.status_code == 200
    assert any("already locked" in message for message in messages_of(again))

    assert client.get(lift_url(free)).status_code == 302
    holder = free.holder
    nothing = client.post(
        lift_url(free),
        {"document_type": holder.id_document_type, "document_number": document_of(holder), "reason": "Lift"},
    )
    assert nothing.status_code == 200
    assert any("not locked" in message for message in messages_of(nothing))
    assert {number.pk: locks_of(number) for number in (locked, free)} == before


def test_locking_needs_a_reason(client, agent_a, branch_a):
    number = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    client.force_login(agent_a)
    response = client.post(lock_url(number), {"reason": "  "})
    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    assert not TransferLock.objects.filter(number=number).exists()


def test_request_transfer_button_only_for_active_numbers_free_of_locks_and_open_requests(
    client, agent_a, branch_a, admin_user
):
    active = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    suspended = number_in_state(NumberStatus.SUSPENDED, actor=agent_a, branch=branch_a)
    requested = transfer_request(actor=agent_a, branch=branch_a).number
    client.force_login(agent_a)

    assert buttons(client, active)["request"] is True
    assert buttons(client, suspended)["request"] is False
    assert buttons(client, requested)["request"] is False
    # The administrator operates every branch: the button is theirs too.
    client.force_login(admin_user)
    assert buttons(client, active)["request"] is True


def test_posting_a_holder_change_is_still_refused_with_transfers_on_record(client, agent_a, branch_a):
    """The number page's new sections add no way to write the holder."""
    transfer = transfer_awaiting_approval(actor=agent_a, branch=branch_a)
    number = transfer.number
    lock_number(number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a), agent_a)
    before = number_state(number), transfer.history.count()
    client.force_login(agent_a)

    response = client.post(
        number_url(number),
        {"holder": transfer.to_subscriber.pk, "msisdn": number.msisdn, "change_reason": "Just give it to them"},
    )

    assert response.status_code == 302
    assert any("cannot be edited" in message for message in messages_of(response))
    transfer.refresh_from_db()
    assert (number_state(number), transfer.history.count()) == before
    assert transfer.state == TransferState.AWAITING_APPROVAL


# --- The SMS outbox -------------------------------------------------------------------


@pytest.fixture
def outbox(db):
    sms_send(to="+85512345678", body="{secret} is your code", secret="908172", purpose=SmsPurpose.CONSENT_CODE)
    sms_send(to="+85512345679", body="A request to transfer", purpose=SmsPurpose.TRANSFER_REQUESTED)
    return {message.to_msisdn: message for message in SmsMessage.objects.all()}


@pytest.mark.parametrize(
    ("persona", "sees"),
    [
        ("auditor", True),
        ("admin_user", True),
        ("agent_a", False),
        ("supervisor_a", False),
        ("handler_a", False),
    ],
)
def test_only_auditors_and_administrators_read_the_outbox(request, client, outbox, persona, sees):
    """Who reads the outbox at all; nobody reads a code there (masked in every body)."""
    client.force_login(request.getfixturevalue(persona))
    response = client.get(OUTBOX)
    assert response.status_code == (200 if sees else 403)
    assert ("•••••• is your code" in response.content.decode()) is sees
    assert "908172" not in response.content.decode()
    detail = client.get(f"{OUTBOX}{outbox['+85512345678'].pk}/change/")
    assert (detail.status_code == 200) is sees
    assert "908172" not in detail.content.decode()
    assert "sealed_secret" not in detail.content.decode()
    history = client.get(f"{OUTBOX}{outbox['+85512345678'].pk}/history/")
    assert "908172" not in history.content.decode()
    assert ('href="/admin/sms/smsmessage/"' in client.get("/admin/").content.decode()) is sees


def test_a_suspended_auditor_no_longer_reads_the_outbox(client, admin_user, auditor, outbox):
    client.force_login(auditor)
    assert client.get(OUTBOX).status_code == 200
    staff_services.employee_set_status(
        employee=auditor.employee, status=EmploymentStatus.SUSPENDED, actor=admin_user, reason="Leave"
    )
    # Signed out (staff.middleware): sent to sign in, where the login is refused.
    response = client.get(OUTBOX)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.parametrize("term", ["012 345 678", "012345678", "+855 12 345 678", "85512345678", " 012-345-678 "])
def test_outbox_search_accepts_any_format(client, auditor, outbox, term):
    client.force_login(auditor)
    assert listed(client.get(OUTBOX, {"q": term})) == {outbox["+85512345678"].pk}


@pytest.mark.parametrize("term", ["012 345", "2345678", "code", "+855 12 345 670"])
def test_outbox_search_finds_nothing_for_a_partial_or_other_number(client, auditor, outbox, term):
    client.force_login(auditor)
    assert listed(client.get(OUTBOX, {"q": term})) == set()


def test_outbox_cannot_be_added_changed_or_deleted_even_by_the_superuser(client, admin_user, outbox):
    message = outbox["+85512345678"]
    client.force_login(admin_user)
    assert client.get(f"{OUTBOX}add/").status_code == 403
    assert (
        client.post(f"{OUTBOX}add/", {"to_msisdn": "+85512345670", "body": "x", "purpose": "notice"}).status_code == 403
    )
    page = client.get(f"{OUTBOX}{message.pk}/change/")
    assert 'name="_save"' not in page.content.decode()
    assert client.post(f"{OUTBOX}{message.pk}/change/", {"body": "rewritten"}).status_code == 403
    assert client.post(f"{OUTBOX}{message.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get(OUTBOX).context["action_form"] is None
    client.post(OUTBOX, {"action": "delete_selected", "_selected_action": [message.pk]})
    message.refresh_from_db()
    assert message.body == "•••••• is your code"
    assert SmsMessage.objects.count() == 2


# --- Query counts ---------------------------------------------------------------------


def _queries(client, url) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries), [query["sql"] for query in captured.captured_queries]


def _grow_transfers(agent_a, agent_c, supervisor_a, branch_a, branch_b, times):
    """Per step: a decided request and a lock in branch A, an open request in branch B."""
    for _ in range(times):
        decided = transfer_awaiting_approval(actor=agent_a, branch=branch_a)
        services.transfer_approve(request=decided, actor=supervisor_a, reason="Approved")
        lock_number(number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a), agent_a)
        consent_in_person(transfer_request(actor=agent_c, branch=branch_b), ConsentParty.NEW_SUBSCRIBER, actor=agent_c)


# (url, who looks, pinned query count, django-otp's look-up of the session's device included)
TRANSFER_LIST_PAGES = [
    pytest.param(REQUESTS, "agent_a", 10, id="requests-agent"),
    pytest.param(REQUESTS, "auditor", 10, id="requests-auditor"),
    pytest.param(CONSENTS, "supervisor_a", 10, id="consents-supervisor"),
    pytest.param(LOCKS, "agent_a", 10, id="locks-agent"),
    pytest.param(OUTBOX, "auditor", 8, id="outbox-auditor"),
]


@pytest.mark.parametrize(("url", "persona", "pinned"), TRANSFER_LIST_PAGES)
def test_transfer_list_query_count_does_not_grow_with_rows(
    settings,
    request,
    client,
    agent_a,
    agent_c,
    supervisor_a,
    branch_a,
    branch_b,
    django_capture_on_commit_callbacks,
    url,
    persona,
    pinned,
):
    client.force_login(request.getfixturevalue(persona))
    with django_capture_on_commit_callbacks(execute=True):  # the outbox grows with the SMS sent
        _grow_transfers(agent_a, agent_c, supervisor_a, branch_a, branch_b, 1)
    client.get(url)  # warm the content-type cache so both measurements start alike

    small_count, small_sql = _queries(client, url)
    small_rows = client.get(url).context["cl"].result_count
    with django_capture_on_commit_callbacks(execute=True):
        _grow_transfers(agent_a, agent_c, supervisor_a, branch_a, branch_b, 2)
    large_count, large_sql = _queries(client, url)
    large_rows = client.get(url).context["cl"].result_count

    assert large_rows == 3 * small_rows > 0
    assert small_count == large_count, "\n".join(large_sql)
    assert large_count == pinned, "\n".join(large_sql)
    cap = settings.ADMIN_COUNT_CAP + 1
    assert [sql for sql in large_sql if "COUNT(" in sql and f"LIMIT {cap}" in sql], "the count is capped"


def test_number_and_subscriber_pages_cost_the_same_with_more_requests(client, agent_a, supervisor_a, branch_a):
    number = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    subscriber = number.holder
    pages = [number_url(number), reverse("admin:numbers_subscriber_change", args=[subscriber.pk])]
    first = transfer_request(actor=agent_a, branch=branch_a, number=number)
    services.transfer_cancel(request=first, actor=agent_a, reason="Changed their mind")
    client.force_login(supervisor_a)
    for url in pages:
        client.get(url)
    small = [_queries(client, url)[0] for url in pages]

    for _ in range(3):
        services.transfer_reject(
            request=transfer_request(actor=agent_a, branch=branch_a, number=number), actor=supervisor_a, reason="No"
        )
    assert MobileNumber.objects.get(pk=number.pk).transfer_requests.count() == 4
    assert [_queries(client, url)[0] for url in pages] == small
