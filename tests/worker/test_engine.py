"""The SMPP engine against the simulator over TCP: outages, throttling, receipts, encoding, STOP."""
from __future__ import annotations

import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from dashboard.extensions import db
from dashboard.models import (BindStatus, ConsentEvent, Contact, DeliveryReceipt, InboundMessage, Message,
                              MessageEvent)
from dashboard.models.types import utcnow
from dashboard.services.campaigns import create_campaign
from dashboard.services.sending.enqueue import enqueue
from dashboard.sms.encoding import analyse
from tests.conftest import approved_sender, numbers, wait_for


def _counts() -> dict[str, int]:
    db.session.expire_all()
    return dict(db.session.execute(select(Message.status, func.count()).group_by(Message.status)).all())


def _send(destinations, text="Your code is 1234", source="Switchboard"):
    approved_sender(source)
    return [m.id for m in enqueue(destinations=destinations, text=text, source=source, now=utcnow())]


def _all_final(expected: int, state: str = "delivered", timeout: float = 40):
    def reached():
        return _counts().get(state, 0) == expected

    def describe():
        rows = db.session.execute(select(Message.status, Message.bind_id, Message.claimed_by, Message.reason)
                                  .where(Message.status != state)).all()
        return f"{expected} messages {state}; now {_counts()}; unfinished: {Counter(rows).most_common(5)}"

    deadline = time.monotonic() + timeout
    while not reached():
        if time.monotonic() > deadline:
            pytest.fail(describe())
        time.sleep(0.1)


def test_an_smsc_outage_mid_send_reconnects_and_sends_each_destination_once(
        app, make_simulator, make_bind, worker):
    simulator = make_simulator(receipt_delay=0.2)
    make_bind(simulator, tps=150, window=10, response_timeout=2.0)
    audience = numbers(300)
    _send(audience)
    worker()
    wait_for(lambda: simulator.submit_count() >= 60, message="sending under way")
    simulator.pause()  # the SMSC goes away mid-campaign, taking in-flight responses with it
    time.sleep(1.5)
    simulator.resume()

    _all_final(300, timeout=60)
    accepted = Counter(s.destination_addr for s in simulator.submits if s.accepted)
    assert set(accepted) == {n.lstrip("+") for n in audience}
    duplicates = {dest for dest, count in accepted.items() if count > 1}
    marked = {m.destination.lstrip("+") for m in db.session.scalars(
        select(Message).where(Message.possible_duplicate.is_(True)))}
    # Only messages whose response was lost in the outage may go twice, and they are marked.
    assert duplicates <= marked
    assert len(marked) <= 10  # at most the bind's window


def test_a_submit_whose_response_never_comes_is_retried_under_a_visible_mark(
        app, make_simulator, make_bind, worker):
    simulator = make_simulator(drop_response_ratio=0.1)
    make_bind(simulator, response_timeout=1.0)
    audience = numbers(60)
    _send(audience)
    worker()
    _all_final(60, timeout=60)
    seen = Counter(s.destination_addr for s in simulator.submits)
    twice = {dest for dest, count in seen.items() if count > 1}
    marked = {m.destination.lstrip("+") for m in db.session.scalars(
        select(Message).where(Message.possible_duplicate.is_(True)))}
    assert twice  # the SMSC really got these twice…
    assert twice <= marked  # …and every one of them is marked on the message
    timeouts = db.session.scalar(select(func.count()).select_from(MessageEvent).where(
        MessageEvent.kind == "response_timeout"))
    assert timeouts >= len(twice)


def test_throttling_on_thirty_percent_of_submits_slows_the_bind_and_delivers_everything(
        app, make_simulator, make_bind, worker):
    simulator = make_simulator(throttle_ratio=0.3)
    bind = make_bind(simulator, tps=200, window=10)
    _send(numbers(200))
    worker()
    lowest_allowed = []

    def done():
        status = db.session.get(BindStatus, bind.id)
        if status is not None and status.allowed_tps:
            lowest_allowed.append(status.allowed_tps)
        return _counts().get("delivered", 0) == 200

    wait_for(done, timeout=60, message="all 200 delivered despite throttling")
    assert min(lowest_allowed) < 200  # the slowdown was visible in the bind's state
    throttled = db.session.scalar(select(func.count()).select_from(MessageEvent).where(
        MessageEvent.kind == "submit_sm_resp", MessageEvent.detail["status_name"].as_string() == "ESME_RTHROTTLED"))
    assert throttled > 20
    assert db.session.scalar(select(func.count()).select_from(Message).where(Message.status == "failed")) == 0


@pytest.mark.parametrize("simulator_options, bind_options", [
    ({"receipt_before_response": True, "receipt_delay": 0.0}, {}),
    ({"duplicate_receipts": 3}, {}),
    ({"message_id_format": "hex", "receipt_id_format": "dec"}, {"message_id_format": "hex_to_dec"}),
    ({"message_id_format": "hex", "receipt_id_format": "dec"}, {"message_id_format": "auto"}),
    ({"message_id_format": "hex", "receipt_id_format": "hex_zero_padded"}, {"message_id_format": "auto"}),
    ({"message_id_format": "dec"}, {"message_id_format": "dec"}),
    ({"receipt_style": "tlv"}, {}),
    ({"receipt_style": "text"}, {}),
], ids=["before-response", "duplicates", "hex-vs-dec-configured", "hex-vs-dec-auto", "leading-zeros",
        "decimal", "tlv-only", "text-only"])
def test_receipts_reconcile_whatever_the_smsc_does(app, make_simulator, make_bind, worker,
                                                   simulator_options, bind_options):
    simulator = make_simulator(**simulator_options)
    make_bind(simulator, **bind_options)
    _send(numbers(10))
    worker()
    _all_final(10)
    receipts = db.session.scalars(select(DeliveryReceipt)).all()
    assert all(r.part_id is not None for r in receipts)
    copies = simulator_options.get("duplicate_receipts", 1)
    assert len(receipts) == 10 * copies
    assert sum(r.duplicate for r in receipts) == 10 * (copies - 1)


def test_a_long_gsm_text_with_extension_characters_goes_out_in_the_right_parts(
        app, simulator, make_bind, worker):
    make_bind(simulator)
    text = ("Prices in € [today] only. " * 16)[:400]
    assert len(text) == 400
    info = analyse(text)
    assert (info.encoding, info.segments) == ("gsm7", 3)  # 400 + 16×3 extension septets = 448 > 306
    [message_id] = _send(numbers(1), text=text)
    worker()
    _all_final(1)
    assert [m.text for m in simulator.messages()] == [text]
    assert simulator.submit_count() == 3
    assert db.session.get(Message, message_id).segments == 3
    assert len(db.session.get(Message, message_id).parts) == 3


def test_a_unicode_text_with_emoji_reassembles_exactly(app, simulator, make_bind, worker):
    make_bind(simulator)
    text = "Thank you 🙏 Merci 🎉 Danke 👍 " * 5
    info = analyse(text)
    assert info.encoding == "ucs2" and info.segments > 1
    [message_id] = _send(numbers(1), text=text)
    worker()
    _all_final(1)
    assert [m.text for m in simulator.messages()] == [text]
    assert simulator.submit_count() == info.segments == db.session.get(Message, message_id).segments


def test_an_mo_stop_opts_the_contact_out_and_a_later_campaign_skips_them(
        app, simulator, make_bind, make_list, sender, worker):
    make_bind(simulator)
    audience = numbers(5)
    contact_list = make_list(audience)
    worker()
    wait_for(lambda: simulator.bound_sessions(), message="bound")
    simulator.inject_mo(source=audience[0].lstrip("+"), destination="Switchboard", text="Stop.")
    wait_for(lambda: db.session.scalar(select(ConsentEvent).where(ConsentEvent.kind == "opt_out")),
             message="opt-out recorded")
    event = db.session.scalar(select(ConsentEvent).where(ConsentEvent.kind == "opt_out"))
    mo = db.session.get(InboundMessage, event.inbound_message_id)
    assert mo.text == "Stop." and mo.keyword == "STOP"
    assert event.source == "keyword"

    campaign = create_campaign(name="later", list_id=contact_list.id, sender_id_id=sender.id, text="News",
                               scheduled_at=utcnow(), created_by_id=None, now=utcnow())
    wait_for(lambda: _counts().get("delivered", 0) == 4, message="4 delivered")
    sent_to = {s.destination_addr for s in simulator.submits}
    assert audience[0].lstrip("+") not in sent_to
    assert len(sent_to) == 4
    assert campaign.id


def test_a_number_that_opts_out_after_launch_is_skipped_at_send_time(
        app, simulator, make_bind, make_list, sender):
    from dashboard.services import campaigns, consent
    from dashboard.worker.scheduler import Worker
    make_bind(simulator)
    audience = numbers(3)
    contact_list = make_list(audience)
    campaign = create_campaign(name="c", list_id=contact_list.id, sender_id_id=sender.id, text="News",
                               scheduled_at=utcnow(), created_by_id=None, now=utcnow())
    while campaigns.launch_due(utcnow()):
        pass  # materialised: the opt-out below comes after the messages exist
    contact = db.session.scalar(select(Contact).where(Contact.phone == audience[1]))
    consent.record(contact, consent.OPT_OUT, source="admin", evidence="asked by phone", actor="test",
                   now=utcnow(), list_id=contact_list.id)
    db.session.commit()
    w = Worker(app, worker_id="late-optout", tick_scale=0.2).start()
    try:
        wait_for(lambda: _counts().get("delivered", 0) == 2, message="two delivered")
        skipped = db.session.scalar(select(Message).where(Message.destination == audience[1]))
        assert skipped.status == "skipped" and skipped.reason == "opted out of the list"
        assert audience[1].lstrip("+") not in {s.destination_addr for s in simulator.submits}
    finally:
        w.stop()
    assert campaign.id


def test_traffic_fails_over_to_the_next_bind_and_returns_when_the_first_is_back(
        app, make_simulator, make_bind, worker):
    from decimal import Decimal

    from dashboard.models import MessagePart, Route
    primary_smsc, backup_smsc = make_simulator(), make_simulator()
    primary = make_bind(primary_smsc, name="cheap", tps=10, window=5)
    backup = make_bind(backup_smsc, name="backup", tps=50)
    db.session.add_all([Route(prefix="1", bind_id=primary.id, price_per_segment=Decimal("0.0100")),
                        Route(prefix="1", bind_id=backup.id, price_per_segment=Decimal("0.0250"))])
    db.session.commit()
    worker()

    def state(bind_id):
        db.session.expire_all()
        status = db.session.get(BindStatus, bind_id)
        return status.state if status else None

    wait_for(lambda: state(primary.id) == "bound" and state(backup.id) == "bound", message="both bound")
    _send(numbers(10, start=100))
    _all_final(10)
    assert primary_smsc.submit_count() == 10 and backup_smsc.submit_count() == 0

    queued_on_primary = _send(numbers(30, start=110))  # 3 s of traffic at 10 parts/s
    assert {db.session.get(Message, i).bind_id for i in queued_on_primary} == {primary.id}
    wait_for(lambda: primary_smsc.submit_count() >= 15, message="primary half way")
    primary_smsc.pause()
    # Everything not yet accepted by the cheap SMSC goes through the backup; what it had accepted
    # waits for its receipt, which the cheap SMSC sends once it is back.
    wait_for(lambda: not {"queued", "submitting"} & set(_counts()), timeout=40,
             message=f"nothing left to send during the outage; now {_counts()}")
    # What was still queued for the cheap bind moved to the backup, and nothing was lost.
    moved = backup_smsc.submit_count()
    assert moved >= 5
    reached = {s.destination_addr for s in primary_smsc.submits + backup_smsc.submits if s.accepted}
    assert {n.lstrip("+") for n in numbers(40, start=100)} <= reached

    primary_smsc.resume()
    wait_for(lambda: state(primary.id) == "bound", timeout=60, message="primary back")
    _all_final(40)
    _send(numbers(10, start=140))
    _all_final(50)
    assert primary_smsc.submit_count() >= 20  # the last 10 went through the cheap bind again
    assert backup_smsc.submit_count() == moved
    # Costs are facts at send time: each part carries the price of the bind it went through.
    prices = dict(db.session.execute(select(MessagePart.bind_id, func.max(MessagePart.price))
                                     .group_by(MessagePart.bind_id)).all())
    assert prices == {primary.id: Decimal("0.0100"), backup.id: Decimal("0.0250")}


def test_an_mo_help_is_answered_with_the_configured_text(app, simulator, make_bind, worker):
    make_bind(simulator)
    worker()
    wait_for(lambda: simulator.bound_sessions(), message="bound")
    simulator.inject_mo(source="12025550123", destination="12025550000", text="help")
    wait_for(lambda: simulator.messages(), message="a reply reached the SMSC")
    [reply] = simulator.messages()
    assert reply.text == app.config["HELP_TEXT"]
    assert (reply.destination_addr, reply.source_addr) == ("12025550123", "12025550000")


def test_a_message_the_smsc_keeps_throttling_expires_after_its_validity_period(
        app, make_simulator, make_bind, worker):
    from datetime import timedelta
    simulator = make_simulator(throttle_ratio=1.0)  # every submit refused with ESME_RTHROTTLED
    make_bind(simulator)
    [message_id] = _send(numbers(1))
    message = db.session.get(Message, message_id)
    message.created_at = utcnow() - timedelta(hours=app.config["VALIDITY_HOURS"], seconds=-2)
    db.session.commit()
    worker()
    _all_final(1, state="expired", timeout=30)
    message = db.session.get(Message, message_id)
    assert message.reason.startswith("validity period passed before it could be sent")
    assert message.error_name == "ESME_RTHROTTLED"
    assert simulator.submit_count(accepted_only=False) >= 1


def test_unmatched_receipts_are_counted_on_the_bind(app, make_simulator, make_bind, worker, client, auth, make_user):
    from dashboard.models import DeliveryReceipt as Receipt
    simulator = make_simulator()
    bind = make_bind(simulator)
    db.session.add(Receipt(bind_id=bind.id, smsc_message_id="ffff0001", id_key="ffff0001", stat="DELIVRD",
                           received_at=utcnow()))
    db.session.commit()
    worker()
    wait_for(lambda: (db.session.expire_all(), getattr(db.session.get(BindStatus, bind.id), "unmatched_receipts", 0))[1] == 1,
             message="one unmatched receipt counted")
    make_user()
    auth.login()
    assert "1 held, matching no message yet" in client.get(f"/binds/{bind.id}/state").data.decode()


def test_a_bind_set_to_message_payload_sends_a_long_text_in_one_pdu(app, simulator, make_bind, worker):
    make_bind(simulator, concat_mode="payload")
    text = "A long notice that would take three parts with a UDH. " * 6
    [message_id] = _send(numbers(1), text=text)
    worker()
    _all_final(1)
    [submit] = simulator.submits
    assert submit.message_payload is not None and submit.udh is None
    assert [m.text for m in simulator.messages()] == [text]
    message = db.session.get(Message, message_id)
    assert message.segments == analyse(text).segments == 3  # billed as three all the same
    assert len(message.parts) == 1


def test_a_transmitter_and_receiver_pair_sends_on_one_and_takes_receipts_on_the_other(
        app, simulator, make_bind, worker):
    make_bind(simulator, mode="tx+rx")
    _send(numbers(5))
    worker()
    _all_final(5)
    assert sorted(mode for _, mode in simulator.bound_sessions()) == ["rx", "tx"]


def test_help_is_answered_even_after_stop(app, simulator, make_bind, worker):
    # Carriers' rules (CTIA) want HELP answered whatever the number's consent; the opt-out that
    # suppresses every other message must not suppress this one.
    make_bind(simulator)
    worker()
    wait_for(lambda: simulator.bound_sessions(), message="bound")
    simulator.inject_mo(source="12025550123", destination="12025550000", text="STOP")
    wait_for(lambda: db.session.scalar(select(Contact.global_opt_out).where(Contact.phone == "+12025550123"))
             is True,
             message="opted out")
    simulator.inject_mo(source="12025550123", destination="12025550000", text="HELP")
    wait_for(lambda: simulator.messages(), message="a reply reached the SMSC")
    [reply] = simulator.messages()
    assert reply.text == app.config["HELP_TEXT"]
    # Everything else to that number is still suppressed.
    _send(["+12025550123"], text="promo", source="12025550000")
    wait_for(lambda: db.session.scalar(select(Message.status).where(Message.text == "promo")) == "skipped",
             message="the promotion skipped")
    assert len(simulator.messages()) == 1


def test_a_long_message_spread_over_seconds_by_a_slow_bind_is_sent_once_and_never_requeued(
        app, simulator, make_bind, worker):
    # At 2 parts a second a 4-part message leaves over two seconds; the first part's response must
    # not be taken for "the rest failed" while the others wait their turn in the runner.
    make_bind(simulator, tps=2, window=10)
    text = "Long notice. " * 40  # 520 GSM characters: 4 parts of 153
    assert analyse(text).segments == 4
    [message_id] = _send(numbers(1), text=text)
    worker()
    _all_final(1)
    message = db.session.get(Message, message_id)
    kinds = db.session.scalars(select(MessageEvent.kind).where(MessageEvent.message_id == message_id)).all()
    assert message.status == "delivered"
    assert "requeued" not in kinds
    assert simulator.submit_count() == 4
    assert [m.text for m in simulator.messages()] == [text]


def test_when_one_part_is_refused_for_good_the_parts_still_waiting_are_not_sent(
        app, make_simulator, make_bind, worker):
    from dashboard.simulator import OutcomeRule
    simulator = make_simulator(outcomes=[OutcomeRule(r"", submit_status=0x0B)])  # invalid destination
    make_bind(simulator, tps=2, window=10)
    [message_id] = _send(numbers(1), text="Long notice. " * 40)  # 4 parts, over two seconds at 2/s
    worker()
    wait_for(lambda: (db.session.expire_all(), db.session.get(Message, message_id).status)[1] == "failed",
             message="the message failed")
    time.sleep(2.5)  # long enough for the other parts to have gone out, had they not been dropped
    db.session.expire_all()
    message = db.session.get(Message, message_id)
    assert message.status == "failed"
    assert {part.status for part in message.parts} == {"failed"}  # none went back to submitting
    assert simulator.submit_count(accepted_only=False) < 4


def test_a_worker_stops_at_once_while_a_bind_backs_off(app, simulator, make_bind, worker):
    """A bind whose carrier refuses it waits seconds between tries; a clean stop (a deploy, a
    rebalance handing the bind over) has nothing in flight to wait for and does not wait those out."""
    from dashboard.models import BindStatus
    bind = make_bind(simulator, password="wrongpw")
    started = worker()
    wait_for(lambda: (db.session.expire_all(), getattr(db.session.get(BindStatus, bind.id), "state", None))[1]
             == "backing_off", message="bind refused")
    before = time.monotonic()
    started.stop()
    # The back-off after a refused password is 5 s and more; the worker used to wait it out.
    assert time.monotonic() - before < 3.0
