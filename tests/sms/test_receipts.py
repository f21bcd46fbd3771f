import pytest

from dashboard.sms.receipts import (
    Receipt,
    is_receipt,
    message_id_candidates,
    normalise_message_id,
    parse_receipt,
    receipt_id_mode,
)

STANDARD = (
    b"id:0123456789 sub:001 dlvrd:001 submit date:2611011200 done date:2611011201 "
    b"stat:DELIVRD err:000 Text:Hello world"
)


# --- is_receipt -------------------------------------------------------------


@pytest.mark.parametrize(
    ("esm_class", "expected"),
    [
        (0x04, True),
        (0x44, True),  # receipt with a UDH indicator
        (0x84, True),  # reply path bit set
        (0x00, False),  # ordinary MO message
        (0x08, False),  # SME delivery acknowledgement, not an SMSC receipt
        (0x10, False),  # manual/user acknowledgement
        (0x20, False),  # conversation abort
        (0x0C, False),
        (0x40, False),
    ],
)
def test_it_recognises_smsc_delivery_receipts_by_esm_class(esm_class, expected):
    assert is_receipt(esm_class) is expected


# --- parse_receipt: text ----------------------------------------------------


def test_it_parses_the_standard_receipt_text():
    assert parse_receipt(short_message=STANDARD) == Receipt(
        message_id="0123456789",
        stat="DELIVRD",
        err="000",
        submit_date="2611011200",
        done_date="2611011201",
        sub="001",
        dlvrd="001",
        text="Hello world",
        network_error_code=None,
    )


@pytest.mark.parametrize("body", [
    STANDARD.decode(),
    "id:a1b2 sub:001 dlvrd:001 submit date:2611011200 done date:2611011201 stat:UNDELIV err:034",
    "id:7 sub:001 dlvrd:000 submit date:2611011200 done date:2611011201 stat:REJECTD err:0 text:",
    "ID:7 SUB:001 DLVRD:001 SUBMIT DATE:2611011200 DONE DATE:2611011201 STAT:DELIVRD ERR:000 TEXT:a id:9 stat:x",
    "id:7 sub: dlvrd: submit date: done date: stat:DELIVRD err: text:€ [ ]",
])
def test_the_standard_layout_shortcut_reads_what_the_tolerant_parser_reads(body):
    from dashboard.sms import receipts
    assert receipts._STANDARD.fullmatch(body)  # the shortcut is taken ...
    assert receipts._parse_fields(body) == receipts._parse_any_layout(body)  # ... and agrees


def test_it_accepts_text_as_a_string():
    assert parse_receipt(short_message=STANDARD.decode()).message_id == "0123456789"


def test_it_reads_fields_in_any_order_with_any_case():
    receipt = parse_receipt(short_message="STAT:undeliv ERR:005 Done_Date:2611011201 ID:abc")
    assert (receipt.message_id, receipt.stat, receipt.err, receipt.done_date) == (
        "abc",
        "UNDELIV",
        "005",
        "2611011201",
    )


@pytest.mark.parametrize("key", ["submit date", "submit_date", "Submit Date", "submitdate"])
def test_it_accepts_spellings_of_submit_date(key):
    receipt = parse_receipt(short_message=f"id:1 {key}:2611011200 stat:DELIVRD")
    assert receipt.submit_date == "2611011200"


def test_it_tolerates_missing_fields():
    receipt = parse_receipt(short_message="id:77 stat:EXPIRED")
    assert receipt == Receipt(message_id="77", stat="EXPIRED")


def test_it_keeps_spaces_and_colons_inside_the_text():
    receipt = parse_receipt(short_message="id:1 stat:DELIVRD err:000 text:Meet at 10:30: id:9 ok")
    assert receipt.text == "Meet at 10:30: id:9 ok"
    assert receipt.message_id == "1"


def test_it_ends_a_leading_text_at_the_next_field():
    receipt = parse_receipt(short_message="text:hi there err:001 id:42 stat:REJECTD")
    assert (receipt.text, receipt.err, receipt.message_id, receipt.stat) == (
        "hi there",
        "001",
        "42",
        "REJECTD",
    )


def test_it_strips_trailing_nuls_and_whitespace():
    receipt = parse_receipt(short_message=b"id:5 stat:DELIVRD err:000\x00\x00\r\n")
    assert (receipt.message_id, receipt.err) == ("5", "000")


def test_it_does_not_mistake_a_longer_key_for_id():
    receipt = parse_receipt(short_message="msgid:999 id:5 stat:DELIVRD")
    assert receipt.message_id == "5"


def test_it_survives_non_utf8_bytes_in_the_text():
    receipt = parse_receipt(short_message=b"id:5 stat:DELIVRD text:caf\xe9")
    assert receipt.text == "café"


@pytest.mark.parametrize(
    ("spelled", "stat"),
    [
        ("DELIVERED", "DELIVRD"),
        ("undeliverable", "UNDELIV"),
        ("Accepted", "ACCEPTD"),
        ("REJECTED", "REJECTD"),
    ],
)
def test_it_normalises_spelled_out_states(spelled, stat):
    assert parse_receipt(short_message=f"id:1 stat:{spelled}").stat == stat


# --- parse_receipt: TLVs ----------------------------------------------------


@pytest.mark.parametrize(
    ("state", "stat"),
    [
        (1, "ENROUTE"),
        (2, "DELIVRD"),
        (3, "EXPIRED"),
        (4, "DELETED"),
        (5, "UNDELIV"),
        (6, "ACCEPTD"),
        (7, "UNKNOWN"),
        (8, "REJECTD"),
    ],
)
def test_it_maps_message_state_codes(state, stat):
    receipt = parse_receipt(
        short_message=None, receipted_message_id=b"abc\x00", message_state=state
    )
    assert (receipt.message_id, receipt.stat) == ("abc", stat)


def test_tlvs_win_over_the_text_for_id_and_state():
    receipt = parse_receipt(
        short_message=STANDARD,
        receipted_message_id="75bcd15",
        message_state=5,
        network_error_code=b"\x03\x00\x01",
    )
    assert (receipt.message_id, receipt.stat) == ("75bcd15", "UNDELIV")
    assert receipt.network_error_code == b"\x03\x00\x01"
    assert receipt.text == "Hello world"


def test_it_falls_back_to_the_text_when_tlvs_are_empty_or_unknown():
    receipt = parse_receipt(short_message=STANDARD, receipted_message_id=b"\x00", message_state=42)
    assert (receipt.message_id, receipt.stat) == ("0123456789", "DELIVRD")


@pytest.mark.parametrize("short_message", [None, b"", b"\x00", b"hello there", "Text:only text"])
def test_it_returns_none_without_an_id_or_a_stat(short_message):
    assert parse_receipt(short_message=short_message) is None


def test_it_keeps_a_receipt_with_a_stat_but_no_id():
    receipt = parse_receipt(short_message=None, message_state=2)
    assert receipt == Receipt(message_id="", stat="DELIVRD")


def test_it_keeps_a_receipt_with_an_id_but_no_stat():
    receipt = parse_receipt(short_message="id:9")
    assert (receipt.message_id, receipt.stat, receipt.status) == ("9", "", None)


# --- Receipt.status ---------------------------------------------------------


@pytest.mark.parametrize(
    ("stat", "status"),
    [
        ("DELIVRD", "delivered"),
        ("UNDELIV", "undeliverable"),
        ("EXPIRED", "expired"),
        ("REJECTD", "rejected"),
        ("DELETED", "failed"),
        ("UNKNOWN", "failed"),
        ("ACCEPTD", None),
        ("ENROUTE", None),
        ("BOGUS", None),
    ],
)
def test_it_maps_stat_to_our_message_status(stat, status):
    assert Receipt(message_id="1", stat=stat).status == status


# --- message ids ------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "mode", "key"),
    [
        (" AbC-1\x00", "str", "abc-1"),
        ("007", "str", "007"),
        ("00AB12", "hex", "ab12"),
        ("0", "hex", "0"),
        ("000", "dec", "0"),
        ("0042", "dec", "42"),
        ("00ff", "hex_to_dec", "255"),
        ("255", "dec_to_hex", "ff"),
        ("0042", "auto", "42"),
        ("00Ab", "auto", "ab"),
        ("6f1e-22", "auto", "6f1e-22"),
        ("not-hex", "hex", "not-hex"),  # does not fit the mode: kept as a string
        ("12ab", "dec", "12ab"),
    ],
)
def test_it_normalises_message_ids(raw, mode, key):
    assert normalise_message_id(raw, mode) == key


def test_it_rejects_an_unknown_id_mode():
    with pytest.raises(ValueError, match="mode"):
        normalise_message_id("1", "base64")


@pytest.mark.parametrize(
    ("response_id", "receipt_id", "mode"),
    [
        ("0000A1B2", "a1b2", "hex"),  # leading zeros dropped in the receipt
        ("00042", "42", "dec"),
        ("A1B2", "41394", "hex_to_dec"),  # hex response, decimal receipt
        ("41394", "a1b2", "dec_to_hex"),
        ("Msg-42 ", "msg-42", "str"),
    ],
)
def test_a_receipt_id_matches_its_response_id_under_the_binds_mode(response_id, receipt_id, mode):
    assert normalise_message_id(response_id, mode) == normalise_message_id(
        receipt_id, receipt_id_mode(mode)
    )


def test_it_lists_every_plausible_key_for_an_id():
    assert message_id_candidates("00A1B2") == {"00a1b2", "a1b2", "41394"}
    assert message_id_candidates(" 0042\x00") == {"0042", "42", "2a", "66"}
    assert message_id_candidates("uuid-x") == {"uuid-x"}
    assert message_id_candidates("") == set()


@pytest.mark.parametrize(
    ("response_id", "receipt_id"),
    [("0000A1B2", "a1b2"), ("A1B2", "41394"), ("00042", "42"), ("41394", "A1B2"), ("X-1", "x-1")],
)
def test_candidates_of_a_response_and_its_receipt_overlap(response_id, receipt_id):
    assert message_id_candidates(response_id) & message_id_candidates(receipt_id)


def test_it_does_not_convert_absurdly_long_numeric_ids():
    raw = "1" * 5000
    assert message_id_candidates(raw) == {raw}
    assert normalise_message_id(raw, "dec") == raw
