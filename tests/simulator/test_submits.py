"""submit_sm: responses, message ids, receipts and the misbehaviour switches."""

from __future__ import annotations

import re
import time
import uuid

import pytest

from dashboard.simulator import OutcomeRule, Simulator, SimulatorConfig
from tests.simulator.helpers import ack, nothing_more, read_pdus, submit, wait_for

RECEIPT = re.compile(
    r"^id:(?P<id>\S+) sub:001 dlvrd:(?P<dlvrd>\d{3}) submit date:(?P<submit>\d{10}) "
    r"done date:(?P<done>\d{10}) stat:(?P<stat>[A-Z]{7}) err:(?P<err>\d{3}) text:(?P<text>.*)$"
)


def parse_receipt(pdu) -> dict:
    match = RECEIPT.match(pdu.short_message.decode("ascii"))
    assert match, pdu.short_message
    return match.groupdict()


def split(pdus):
    responses = [p for p in pdus if p.command == "submit_sm_resp"]
    receipts = [p for p in pdus if p.command == "deliver_sm"]
    return responses, receipts


def test_each_submit_gets_a_unique_id_and_a_receipt_with_text_and_tlvs(simulator, connect):
    first, second = connect(simulator), connect(simulator)
    sequences = [submit(first, "447700900001", b"Your code is 1234, valid 10 minutes")
                 for _ in range(3)]
    other = submit(second, "447700900002", b"Hi")

    responses, receipts = split(read_pdus(first, 6))
    [other_resp], [other_receipt] = split(read_pdus(second, 2))

    assert [r.sequence for r in responses] == sequences
    assert other_resp.sequence == other
    ids = [r.message_id.decode() for r in responses] + [other_resp.message_id.decode()]
    assert len(set(ids)) == 4
    receipt = receipts[0]
    fields = parse_receipt(receipt)
    assert fields["id"] == ids[0]
    assert (fields["stat"], fields["dlvrd"], fields["err"]) == ("DELIVRD", "001", "000")
    assert fields["text"] == "Your code is 1234, v"  # the first 20 characters
    assert receipt.esm_class & 0x3C == 0x04
    assert (receipt.source_addr, receipt.destination_addr) == (b"447700900001", b"Acme")
    assert (receipt.source_addr_ton, receipt.dest_addr_ton) == (1, 5)
    assert receipt.receipted_message_id == ids[0].encode()
    assert receipt.message_state == 2
    assert parse_receipt(other_receipt)["id"] == ids[3]


def test_it_records_submits_and_the_deliver_sm_resp_it_got(simulator, connect):
    client = connect(simulator)
    submit(client, "447700900001", b"Hello")
    _, [receipt] = split(read_pdus(client, 2))
    wait_for(lambda: simulator.deliver_responses)

    [record] = simulator.submits
    assert (record.system_id, record.source_addr, record.destination_addr) == (
        "switchboard", "Acme", "447700900001")
    assert (record.short_message, record.command_status, record.udh) == (b"Hello", 0, None)
    assert record.message_id == parse_receipt(receipt)["id"]
    assert simulator.deliver_responses == [(receipt.sequence, 0)]
    assert simulator.submit_count("447700900001") == 1
    assert simulator.submit_count("447700900009") == 0


def test_message_ids_stay_unique_across_a_restart(simulator, connect):
    client = connect(simulator)
    submit(client, registered_delivery=0)
    [before] = read_pdus(client, 1)
    simulator.stop()
    simulator.start()
    client = connect(simulator)
    submit(client, registered_delivery=0)

    [after] = read_pdus(client, 1)

    assert before.message_id != after.message_id


def test_an_outcome_rule_makes_matching_numbers_undeliverable(make_simulator, connect):
    sim = make_simulator(outcomes=[OutcomeRule(r"7$", "UNDELIV")])
    client = connect(sim)
    submit(client, "447700900007")
    submit(client, "447700900008")

    _, receipts = split(read_pdus(client, 4))

    by_number = {r.source_addr: r for r in receipts}
    failed = parse_receipt(by_number[b"447700900007"])
    assert (failed["stat"], failed["dlvrd"], failed["err"]) == ("UNDELIV", "000", "001")
    assert by_number[b"447700900007"].message_state == 5
    assert by_number[b"447700900007"].network_error_code == b"\x03\x00\x01"
    assert parse_receipt(by_number[b"447700900008"])["stat"] == "DELIVRD"


def test_an_outcome_rule_with_a_submit_status_rejects_without_a_receipt(make_simulator, connect):
    sim = make_simulator(outcomes=[OutcomeRule(r"^4477009000", submit_status=0x0B)])
    client = connect(sim)
    submit(client, "447700900001")

    [resp] = read_pdus(client, 1)

    assert resp.status == 0x0B
    assert nothing_more(client)
    assert sim.submits[0].message_id is None
    assert sim.submits[0].command_status == 0x0B
    assert sim.submit_count() == 0
    assert sim.submit_count(accepted_only=False) == 1


def test_registered_delivery_2_asks_for_receipts_on_failure_only(make_simulator, connect):
    sim = make_simulator(outcomes=[OutcomeRule(r"7$", "EXPIRED")])
    client = connect(sim)
    submit(client, "447700900001", registered_delivery=2)
    submit(client, "447700900007", registered_delivery=2)

    _, [receipt] = split(read_pdus(client, 3))

    assert parse_receipt(receipt)["stat"] == "EXPIRED"
    assert nothing_more(client)


@pytest.mark.parametrize(("form", "pattern"), [
    ("hex", r"^[0-9a-f]+$"),
    ("dec", r"^[0-9]+$"),
    ("uuid", r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
])
def test_message_ids_follow_the_configured_format(make_simulator, connect, form, pattern):
    sim = make_simulator(message_id_format=form)
    client = connect(sim)
    submit(client)

    resp, receipt = read_pdus(client, 2)

    assert re.match(pattern, resp.message_id.decode())
    assert parse_receipt(receipt)["id"] == resp.message_id.decode()


@pytest.mark.parametrize(("form", "expected"), [
    ("same", lambda sent: sent),
    ("dec", lambda sent: str(int(sent, 16))),
    ("hex_zero_padded", lambda sent: sent.rjust(16, "0")),
])
def test_receipt_ids_can_differ_from_the_response_id(make_simulator, connect, form, expected):
    sim = make_simulator(receipt_id_format=form)
    client = connect(sim)
    submit(client)

    resp, receipt = read_pdus(client, 2)

    sent = resp.message_id.decode()
    in_receipt = parse_receipt(receipt)["id"]
    assert in_receipt == expected(sent)
    assert receipt.receipted_message_id.decode() == in_receipt
    if form == "hex_zero_padded":
        assert in_receipt.startswith("0")


def test_a_uuid_id_in_decimal_receipts_is_its_integer(make_simulator, connect):
    sim = make_simulator(message_id_format="uuid", receipt_id_format="dec")
    client = connect(sim)
    submit(client)

    resp, receipt = read_pdus(client, 2)

    assert parse_receipt(receipt)["id"] == str(uuid.UUID(resp.message_id.decode()).int)


def test_text_style_receipts_carry_no_tlvs(make_simulator, connect):
    sim = make_simulator(receipt_style="text")
    client = connect(sim)
    submit(client)

    _, receipt = read_pdus(client, 2)

    assert parse_receipt(receipt)["stat"] == "DELIVRD"
    assert receipt.receipted_message_id is None
    assert receipt.message_state is None


def test_tlv_style_receipts_carry_no_text(make_simulator, connect):
    sim = make_simulator(receipt_style="tlv")
    client = connect(sim)
    submit(client)

    resp, receipt = read_pdus(client, 2)

    assert not receipt.short_message
    assert receipt.receipted_message_id == resp.message_id
    assert receipt.message_state == 2


@pytest.mark.parametrize("delay", [0.0, 0.15])
def test_receipt_before_response_sends_the_receipt_first(make_simulator, connect, delay):
    sim = make_simulator(receipt_before_response=True, receipt_delay=delay)
    client = connect(sim)
    sequence = submit(client)

    receipt, resp = read_pdus(client, 2)

    assert receipt.command == "deliver_sm"
    assert (resp.command, resp.sequence) == ("submit_sm_resp", sequence)
    assert parse_receipt(receipt)["id"] == resp.message_id.decode()


def test_receipt_delay_holds_the_receipt_back(make_simulator, connect):
    sim = make_simulator(receipt_delay=0.2)
    client = connect(sim)
    submit(client)
    [resp] = read_pdus(client, 1)
    sent = time.monotonic()

    [receipt] = read_pdus(client, 1)

    assert time.monotonic() - sent > 0.1
    assert parse_receipt(receipt)["id"] == resp.message_id.decode()


def test_duplicate_receipts_are_sent_that_many_times(make_simulator, connect):
    sim = make_simulator(duplicate_receipts=3)
    client = connect(sim)
    submit(client)

    resp, *receipts = read_pdus(client, 4)

    assert len(receipts) == 3
    assert {parse_receipt(r)["id"] for r in receipts} == {resp.message_id.decode()}
    assert len({r.sequence for r in receipts}) == 3
    assert nothing_more(client)


def throttle_pattern(sim, connect, count):
    client = connect(sim)
    for _ in range(count):
        submit(client, registered_delivery=0)
    return [resp.status for resp in read_pdus(client, count)]


def test_throttle_ratio_answers_a_seeded_share_of_submits_with_throttled(make_simulator, connect):
    first = throttle_pattern(make_simulator(throttle_ratio=0.5, seed=7), connect, 40)
    again = throttle_pattern(make_simulator(throttle_ratio=0.5, seed=7), connect, 40)

    assert set(first) == {0, 0x58}
    assert 8 < first.count(0x58) < 32
    assert first == again  # seeded: the same submits are throttled each run


def test_max_tps_throttles_submits_above_the_rate(make_simulator, connect):
    sim = make_simulator(max_tps=5)

    statuses = throttle_pattern(sim, connect, 20)

    assert statuses.count(0) == 5
    assert statuses.count(0x58) == 15
    assert sim.submit_count() == 5


def test_drop_response_ratio_leaves_some_submits_unanswered(make_simulator, connect):
    sim = make_simulator(drop_response_ratio=0.5)
    client = connect(sim)
    sequences = [submit(client, registered_delivery=0) for _ in range(20)]
    wait_for(lambda: len(sim.submits) == 20)
    dropped = [r for r in sim.submits if r.dropped]
    answered = 20 - len(dropped)

    responses = read_pdus(client, answered)

    assert 2 < len(dropped) < 18
    assert nothing_more(client)
    assert all(r.message_id is None for r in dropped)
    assert {r.sequence for r in responses} < set(sequences)


def test_receipts_wait_for_a_receiver_that_binds_later(simulator, connect):
    sender = connect(simulator, "tx")
    submit(sender, "447700900001")
    submit(sender, "447700900002")
    read_pdus(sender, 2)
    assert simulator.pending_deliveries() == 2  # both answered, so both receipts are made

    receiver = connect(simulator, "rx")
    receipts = read_pdus(receiver, 2)

    assert sorted(r.source_addr for r in receipts) == [b"447700900001", b"447700900002"]
    assert simulator.pending_deliveries() == 0


def test_receipts_go_to_the_receiver_of_the_same_account_only(make_simulator, connect):
    sim = make_simulator(accounts={"a": "pa", "b": "pb"})
    other = connect(sim, "rx", system_id="b", password="pb")
    sender = connect(sim, "tx", system_id="a", password="pa")
    receiver = connect(sim, "rx", system_id="a", password="pa")
    submit(sender)
    read_pdus(sender, 1)

    [receipt] = read_pdus(receiver, 1)

    assert receipt.esm_class == 0x04
    assert nothing_more(other)


def test_unanswered_receipts_are_delivered_again_after_a_reconnect(simulator, connect):
    client = connect(simulator)
    submit(client)
    resp, receipt = read_pdus(client, 2, answer=False)
    simulator.kill_connections()

    again = connect(simulator)
    [repeat] = read_pdus(again, 1)

    assert repeat.short_message == receipt.short_message


def test_unanswered_receipts_are_sent_again_after_redeliver_after(make_simulator, connect):
    sim = make_simulator(redeliver_after=0.2)
    client = connect(sim)
    submit(client)
    _, receipt = read_pdus(client, 2, answer=False)

    [repeat] = read_pdus(client, 1, timeout=2.5)

    assert repeat.short_message == receipt.short_message
    assert repeat.sequence != receipt.sequence


def test_an_error_deliver_sm_resp_is_recorded_and_not_retried(make_simulator, connect):
    sim = make_simulator(redeliver_after=0.2)
    client = connect(sim)
    submit(client)
    _, receipt = read_pdus(client, 2, answer=False)
    ack(client, receipt, status=0x08)

    assert nothing_more(client, 1.3)
    assert sim.deliver_responses == [(receipt.sequence, 0x08)]


def test_it_refuses_a_config_it_cannot_honour():
    with pytest.raises(ValueError):
        Simulator(SimulatorConfig(message_id_format="base64"))
    with pytest.raises(ValueError):
        Simulator(SimulatorConfig(outcomes=[OutcomeRule(".", "LOST")]))
