import pytest

from dashboard.sms.receipt_codes import describe_receipt, err_meaning
from dashboard.sms.timeline import describe_event


def test_a_queued_event_names_its_parts_encoding_and_bind():
    line = describe_event(
        "queued",
        {"seq": 1, "bind_id": 3, "route_id": 7, "segments": 2, "encoding": "gsm7"},
        {3: "acme"},
    )
    assert (line.title, line.text, line.tone) == (
        "Queued",
        "2 parts, GSM-7, for bind acme (route #7)",
        "info",
    )


def test_a_submit_says_which_part_and_sequence_and_warns_of_a_possible_duplicate():
    line = describe_event(
        "submit_sm", {"sequence": 12, "session": "s1", "part": "1/2", "possible_duplicate": True}
    )
    assert (
        line.text.startswith("part 1/2, sequence 12 on session s1")
        and "possible duplicate" in line.text
    )
    assert line.tone == "warn"


def test_an_accepted_response_gives_the_smsc_id():
    line = describe_event(
        "submit_sm_resp", {"command_status": 0, "status_name": "ESME_ROK", "message_id": "5f3a"}
    )
    assert (line.title, line.text, line.tone) == ("Accepted by the SMSC", "SMSC id 5f3a", "ok")


def test_a_refused_submit_gives_the_error_name_code_and_meaning():
    line = describe_event(
        "submit_sm_resp", {"command_status": 0x0B, "status_name": "ESME_RINVDSTADR"}
    )
    assert (line.title, line.tone) == ("Refused by the SMSC", "error")
    assert line.text == "ESME_RINVDSTADR (0x0000000B): Invalid Destination Address"


def test_a_receipt_gives_its_stat_and_err_with_their_meaning():
    line = describe_event(
        "deliver_sm", {"receipt_id": 4, "stat": "UNDELIV", "err": "001", "text": "id:…"}
    )
    assert (line.title, line.text, line.tone) == (
        "Receipt",
        "UNDELIV (undeliverable), err 001: unknown subscriber",
        "error",
    )
    assert (
        describe_event("deliver_sm", {"stat": "DELIVRD", "err": "000"}).text
        == "DELIVRD (delivered to the handset)"
    )


def test_status_changes_time_outs_and_requeues_read_as_sentences():
    assert (
        describe_event("status", {"seq": 3, "status": "expired", "reason": "validity passed"}).text
        == "expired: validity passed"
    )
    assert describe_event("response_timeout", {"reason": "link lost"}).tone == "warn"
    assert (
        describe_event(
            "requeued", {"reason": "temporary SMSC error ESME_RSYSERR", "retry_in_s": 4.2}
        ).text
        == "temporary SMSC error ESME_RSYSERR; next attempt in 4 s"
    )


def test_an_unknown_event_still_shows_its_fields():
    line = describe_event("vendor_thing", {"seq": 1, "a": 1, "b": "x"})
    assert (line.title, line.text) == ("vendor thing", "a=1, b=x")


@pytest.mark.parametrize(
    ("err", "meaning"),
    [
        ("1", "unknown subscriber"),
        ("001", "unknown subscriber"),
        ("027", "absent subscriber (handset off or out of coverage)"),
        ("x", None),
        ("999", None),
        ("", None),
    ],
)
def test_receipt_err_codes_are_read_as_gsm_map_errors(err, meaning):
    assert err_meaning(err) == meaning


def test_an_unknown_err_keeps_its_code_without_a_made_up_meaning():
    assert describe_receipt("UNDELIV", "203") == "UNDELIV (undeliverable), err 203"
