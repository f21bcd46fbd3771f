"""Contact pages: sender IDs are validated by kind before they are stored."""
from __future__ import annotations

from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import SenderId


def _ops(auth, make_user):
    make_user("ops@example.com", "ops")
    auth.login("ops@example.com")


def test_an_alphanumeric_sender_id_is_added(client, auth, make_user):
    _ops(auth, make_user)
    response = client.post("/senders/", data={"value": " Acme ", "kind": "alphanumeric"})
    assert response.status_code == 302
    sender = db.session.scalar(select(SenderId))
    assert (sender.value, sender.kind) == ("Acme", "alphanumeric")
    assert "Sender ID Acme added." in client.get("/senders/").data.decode()


def test_a_long_code_is_stored_as_e164(client, auth, make_user):
    _ops(auth, make_user)
    assert client.post("/senders/", data={"value": "(202) 555-0101", "kind": "long_code"}).status_code == 302
    assert db.session.scalar(select(SenderId.value)) == "+12025550101"


def test_an_alphanumeric_sender_id_over_eleven_characters_is_refused(client, auth, make_user):
    _ops(auth, make_user)
    response = client.post("/senders/", data={"value": "SwitchboardX", "kind": "alphanumeric"})
    assert response.status_code == 400
    assert "At most 11 GSM characters; this is 12." in response.data.decode()
    assert db.session.scalar(select(SenderId)) is None


def test_a_sender_id_with_a_curly_quote_is_refused_naming_the_character(client, auth, make_user):
    _ops(auth, make_user)
    response = client.post("/senders/", data={"value": "Bob’s", "kind": "alphanumeric"})
    assert response.status_code == 400
    assert "not &#39;’&#39; (U+2019)" in response.data.decode()


def test_a_short_code_of_two_digits_is_refused(client, auth, make_user):
    _ops(auth, make_user)
    response = client.post("/senders/", data={"value": "12", "kind": "short_code"})
    assert response.status_code == 400
    assert "A short code is 3 to 8 digits." in response.data.decode()


def test_an_invalid_long_code_is_refused_with_the_reason(client, auth, make_user):
    _ops(auth, make_user)
    response = client.post("/senders/", data={"value": "555", "kind": "long_code"})
    assert response.status_code == 400
    assert "Not a valid phone number: too short." in response.data.decode()


def test_the_same_long_code_typed_differently_is_a_duplicate(client, auth, make_user):
    _ops(auth, make_user)
    client.post("/senders/", data={"value": "+1 202 555 0101", "kind": "long_code"})
    response = client.post("/senders/", data={"value": "(202) 555-0101", "kind": "long_code"})
    assert response.status_code == 400
    assert "This sender ID exists already." in response.data.decode()
    assert len(db.session.scalars(select(SenderId)).all()) == 1


def test_a_compliance_user_cannot_add_a_sender_id(client, auth, make_user):
    make_user("compliance@example.com", "compliance")
    auth.login("compliance@example.com")
    assert client.post("/senders/", data={"value": "Acme", "kind": "alphanumeric"}).status_code == 403
    assert db.session.scalar(select(SenderId)) is None


def _sender(value="Acme", kind="alphanumeric", **overrides) -> SenderId:
    sender = SenderId(value=value, kind=kind, status="approved", **overrides)
    db.session.add(sender)
    db.session.commit()
    return sender


def test_a_sender_id_is_added_with_its_brand(client, auth, make_user):
    _ops(auth, make_user)
    client.post("/senders/", data={"value": "AcmeShop", "kind": "alphanumeric", "brand": " Acme "})
    assert db.session.scalar(select(SenderId.brand)) == "Acme"


def test_registrations_are_added_and_changed_per_country_and_listed(client, auth, make_user):
    from dashboard.models import SenderRegistration
    sender = _sender()
    _ops(auth, make_user)
    response = client.post(f"/senders/{sender.id}/registrations",
                           data={"country": "de", "status": "pending", "notes": "filed with the operator"})
    assert response.status_code == 302
    client.post(f"/senders/{sender.id}/registrations", data={"country": "US", "status": "approved"})
    page = client.get(f"/senders/{sender.id}").data.decode()
    assert "<td>DE</td><td>pending</td>" in page and "filed with the operator" in page
    assert "DE pending" in client.get("/senders/").data.decode()
    client.post(f"/senders/{sender.id}/registrations", data={"country": "DE", "status": "approved"})
    statuses = dict(db.session.execute(select(SenderRegistration.country, SenderRegistration.status)).all())
    assert statuses == {"DE": "approved", "US": "approved"}


def test_a_registration_for_an_unknown_country_is_refused(client, auth, make_user):
    sender = _sender()
    _ops(auth, make_user)
    response = client.post(f"/senders/{sender.id}/registrations", data={"country": "XX", "status": "approved"})
    assert response.status_code == 400
    assert "XX is not a country code" in response.data.decode()


def test_a_us_long_code_approval_without_10dlc_ids_is_refused_on_the_page(client, auth, make_user):
    sender = _sender("+12025550199", "long_code")
    _ops(auth, make_user)
    response = client.post(f"/senders/{sender.id}/registrations", data={"country": "US", "status": "approved"})
    assert response.status_code == 400
    assert "A US long code is approved with its 10DLC brand ID." in response.data.decode()
    response = client.post(f"/senders/{sender.id}/registrations", data={
        "country": "US", "status": "approved", "us_10dlc_brand_id": "BXYZ123", "us_10dlc_campaign_id": "CABC456"})
    assert response.status_code == 302
    assert "BXYZ123 / CABC456" in client.get(f"/senders/{sender.id}").data.decode()


def test_the_brand_of_a_sender_can_be_changed(client, auth, make_user):
    sender = _sender()
    _ops(auth, make_user)
    assert client.post(f"/senders/{sender.id}/brand", data={"brand": "Acme Group"}).status_code == 302
    db.session.refresh(sender)
    assert sender.brand == "Acme Group"


def test_a_compliance_user_cannot_change_registrations(client, auth, make_user):
    sender = _sender()
    make_user("compliance@example.com", "compliance")
    auth.login("compliance@example.com")
    response = client.post(f"/senders/{sender.id}/registrations", data={"country": "US", "status": "approved"})
    assert response.status_code == 403
    assert sender.registrations == []


def test_the_campaign_form_says_which_countries_the_sender_is_not_approved_for(client, auth, make_user, make_list):
    sender = _sender()
    contact_list = make_list(["+12025550101", "+4915112345678"])
    _ops(auth, make_user)
    response = client.post("/campaigns/new", data={"name": "x", "list_id": contact_list.id, "sender_id_id": sender.id,
                                                   "text": "hi"}, follow_redirects=True)
    page = response.data.decode()
    assert "sender Acme is not approved for DE (no registration); sender Acme is not approved for US" in page


def _contacts(page: str) -> list[str]:
    import re

    return re.findall(
        r'<td class="nowrap"><a href="/consent/contacts/\d+" title="Consent history">([^<]+)</a>',
        page,
    )


def _list_with_names(make_list):
    from dashboard.models import Contact

    contact_list = make_list(["+12025550101", "+12025550102", "+13125550103"], name="VIP")
    for phone, name in (
        ("+12025550101", "Ada Lovelace"),
        ("+12025550102", "Alan Turing"),
        ("+13125550103", "Grace Hopper"),
    ):
        db.session.scalar(select(Contact).where(Contact.phone == phone)).name = name
    db.session.commit()
    return contact_list


def test_a_list_is_searched_by_number_or_name_posted_and_never_in_the_url(
    client, auth, make_user, make_list
):
    contact_list = _list_with_names(make_list)
    _ops(auth, make_user)
    response = client.post(f"/lists/{contact_list.id}/search", data={"q": "(202) 555-0102"})
    location = response.headers["Location"]
    assert response.status_code == 303 and "555" not in location and "search=" in location
    assert _contacts(client.get(location).data.decode()) == ["+12025550102"]

    location = client.post(f"/lists/{contact_list.id}/search", data={"q": "grace"}).headers[
        "Location"
    ]
    assert "grace" not in location.lower()
    assert _contacts(client.get(location).data.decode()) == ["+13125550103"]
    location = client.post(f"/lists/{contact_list.id}/search", data={"q": "5550"}).headers[
        "Location"
    ]
    assert (
        len(_contacts(client.get(location).data.decode())) == 3
    )  # four digits or more: part of a number
    location = client.post(f"/lists/{contact_list.id}/search", data={"q": "nobody"}).headers[
        "Location"
    ]
    assert "No contact matches." in client.get(location).data.decode()


def test_a_long_list_is_paged_by_cursor(client, auth, make_user, make_list):
    from tests.conftest import numbers

    contact_list = make_list(numbers(60), name="Long")
    _ops(auth, make_user)
    first = client.get(f"/lists/{contact_list.id}").data.decode()
    assert len(_contacts(first)) == 50
    import re

    older = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    second = client.get(older).data.decode()
    assert len(_contacts(second)) == 10 and not set(_contacts(first)) & set(_contacts(second))


def test_an_opt_out_from_the_list_page_goes_through_the_ledger_with_the_user_as_evidence(
    client, auth, make_user, make_list
):
    from dashboard.models import ConsentEvent, Contact, ListMembership
    from dashboard.services.consent import verify_chain

    contact_list = _list_with_names(make_list)
    _ops(auth, make_user)
    contact = db.session.scalar(select(Contact).where(Contact.phone == "+12025550101"))
    response = client.post(
        f"/lists/{contact_list.id}/contacts/{contact.id}/opt-out",
        data={"scope": "list", "note": "asked by phone"},
    )
    assert response.status_code == 303
    event = db.session.scalar(select(ConsentEvent).order_by(ConsentEvent.id.desc()))
    assert (event.kind, event.list_id, event.actor, event.source) == (
        "opt_out",
        contact_list.id,
        "ops@example.com",
        "admin",
    )
    assert event.evidence == "opted out in the console by ops@example.com: asked by phone"
    assert not db.session.scalar(
        select(ListMembership.subscribed).where(ListMembership.contact_id == contact.id)
    )

    other = db.session.scalar(select(Contact).where(Contact.phone == "+12025550102"))
    client.post(f"/lists/{contact_list.id}/contacts/{other.id}/opt-out", data={"scope": "global"})
    db.session.expire_all()
    assert db.session.get(Contact, other.id).global_opt_out
    assert db.session.scalar(select(ConsentEvent).order_by(ConsentEvent.id.desc())).list_id is None
    assert verify_chain().intact
    page = client.get(f"/lists/{contact_list.id}").data.decode()
    assert (
        "opted out of everything" in page
        and "recorded in the consent ledger with your name" in page
    )


def test_removing_a_contact_takes_it_off_the_list_and_the_ledger_says_who(
    client, auth, make_user, make_list
):
    from dashboard.models import ConsentEvent, Contact, ListMembership

    contact_list = _list_with_names(make_list)
    _ops(auth, make_user)
    contact = db.session.scalar(select(Contact).where(Contact.phone == "+13125550103"))
    response = client.post(
        f"/lists/{contact_list.id}/contacts/{contact.id}/remove", headers={"HX-Request": "true"}
    )
    assert response.headers["HX-Redirect"] == f"/lists/{contact_list.id}"
    assert (
        db.session.scalar(select(ListMembership).where(ListMembership.contact_id == contact.id))
        is None
    )
    event = db.session.scalar(select(ConsentEvent).order_by(ConsentEvent.id.desc()))
    assert (event.kind, event.evidence) == ("opt_out", "removed from the list by ops@example.com")
    assert "+13125550103" not in _contacts(client.get(f"/lists/{contact_list.id}").data.decode())
    # Only members of this list can be acted on from it.
    assert client.post(f"/lists/{contact_list.id}/contacts/{contact.id}/remove").status_code == 404
