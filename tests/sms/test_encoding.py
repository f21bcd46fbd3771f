import random

import pytest

from dashboard.sms.encoding import (
    GSM7,
    UCS2,
    EncodedMessage,
    SegmentInfo,
    analyse,
    decode,
    encode_message,
    gsm_lookalike,
    is_gsm7,
    non_gsm_chars,
    replace_lookalikes,
    split_udh,
    split_units,
)

EXTENSION_CHARS = ["€", "[", "]", "{", "}", "~", "^", "\\", "|", "\f"]
EMOJI = "\U0001f600"  # 😀, outside the BMP: a surrogate pair in UTF-16
# Body bytes per part (single, concatenated): unpacked septets, or UTF-16 octets.
MAX_BODY_BYTES = {GSM7: (160, 153), UCS2: (140, 134)}


def reassemble(message: EncodedMessage) -> str:
    """What a handset shows: strip each part's UDH, decode, join in sequence order."""
    bodies = {}
    for part in message.parts:
        concat, body = split_udh(part, message.esm_class)
        seq = concat[2] if concat else 1
        bodies[seq] = decode(body, message.data_coding)
    return "".join(bodies[seq] for seq in sorted(bodies))


# --- alphabet ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["Hello", "@£$¥èéùìòÇØøÅå", "ΔΦΓΛΩΠΨΣΘΞ", "§¿¡ÄÖÑÜäöñüà", "a\nb\r"]
)
def test_it_recognises_gsm_text(text):
    assert is_gsm7(text)


@pytest.mark.parametrize("text", ["it’s", "a\u00a0b", "😀", "ç", "á", "`", "\x1b", "Привет"])
def test_it_recognises_text_that_needs_ucs2(text):
    assert not is_gsm7(text)


def test_it_treats_a_literal_escape_character_as_not_gsm():
    # 0x1B would swallow the next septet on the handset.
    assert analyse("a\x1bb").encoding == UCS2


@pytest.mark.parametrize("ch", EXTENSION_CHARS)
def test_it_counts_extension_characters_as_two_septets(ch):
    info = analyse(ch)
    assert (info.encoding, info.units) == (GSM7, 2)


def test_it_counts_euro_as_two_septets():
    assert analyse("€5").units == 3


@pytest.mark.parametrize("text", ["§", "\f", "€[]{}~^\\|", "@", "Ñandù"])
def test_it_round_trips_tricky_gsm_characters(text):
    message = encode_message(text, ref=1)
    assert reassemble(message) == text


def test_it_encodes_section_sign_as_0x5f_and_form_feed_as_escape_0x0a():
    assert encode_message("§", ref=0).parts == (b"\x5f",)
    assert encode_message("\f", ref=0).parts == (b"\x1b\x0a",)


# --- GSM-7 segmentation -----------------------------------------------------


@pytest.mark.parametrize(
    ("length", "segments", "per_part", "left"),
    [
        (0, 1, 160, 160),
        (1, 1, 160, 159),
        (160, 1, 160, 0),
        (161, 2, 153, 145),
        (306, 2, 153, 0),
        (307, 3, 153, 152),
        (459, 3, 153, 0),
    ],
)
def test_it_counts_gsm_segments_at_the_boundaries(length, segments, per_part, left):
    info = analyse("a" * length)
    assert info == SegmentInfo(GSM7, segments, length, per_part, left, ())


def test_it_counts_empty_text_as_one_segment():
    assert analyse("").segments == 1
    assert encode_message("", ref=0).parts == (b"",)


def test_it_keeps_159_letters_and_a_euro_in_one_part_only_if_they_fit():
    assert analyse("a" * 158 + "€").segments == 1
    assert analyse("a" * 159 + "€").segments == 2


def test_it_moves_an_escape_pair_that_would_straddle_a_part_boundary():
    parts = split_units("a" * 152 + "€" + "b" * 152)
    assert parts[0] == "a" * 152
    assert parts[1].startswith("€")
    assert len(parts) == 3


def test_it_never_ends_a_gsm_part_on_a_bare_escape_byte():
    message = encode_message("a" * 152 + "€" + "b" * 152, ref=9)
    for part in message.parts:
        _, body = split_udh(part, message.esm_class)
        assert not body.endswith(b"\x1b")
        assert len(body) <= 153


def test_it_fills_a_part_exactly_when_the_escape_pair_fits():
    parts = split_units("a" * 151 + "€" + "b" * 100)
    assert parts[0] == "a" * 151 + "€"


def test_it_reassembles_a_long_gsm_text_with_extension_characters():
    rng = random.Random(400)
    text = "".join(rng.choice("abc €[]{}xyz") for _ in range(400))
    message = encode_message(text, ref=200)
    assert message.segments == analyse(text).segments == len(message.parts)
    assert reassemble(message) == text


# --- UCS-2 segmentation -----------------------------------------------------


@pytest.mark.parametrize(
    ("length", "segments", "per_part"),
    [(70, 1, 70), (71, 2, 67), (134, 2, 67), (135, 3, 67)],
)
def test_it_counts_ucs2_segments_at_the_boundaries(length, segments, per_part):
    info = analyse("ж" * length)
    assert (info.encoding, info.segments, info.units, info.units_per_part) == (
        UCS2,
        segments,
        length,
        per_part,
    )


def test_it_counts_an_emoji_as_two_code_units():
    assert analyse(EMOJI).units == 2
    assert analyse(EMOJI * 35).segments == 1
    assert analyse(EMOJI * 36).segments == 2


def test_it_never_splits_an_emoji_between_parts():
    # 67 emoji = 134 code units, but 33 fit in a 67-unit part: 33 + 33 + 1.
    message = encode_message(EMOJI * 67, ref=3)
    assert message.segments == 3
    for part in message.parts:
        _, body = split_udh(part, message.esm_class)
        assert body.decode("utf-16-be") == EMOJI * (len(body) // 4)
    assert reassemble(message) == EMOJI * 67


def test_one_curly_apostrophe_turns_155_letters_into_three_ucs2_parts():
    info = analyse("a" * 155 + "’")
    assert (info.encoding, info.segments) == (UCS2, 3)
    assert info.non_gsm_chars == ("’",)


def test_it_lists_the_characters_that_forced_ucs2_once_each_in_order():
    assert analyse("it’s a\u00a0“test” it’s").non_gsm_chars == ("’", "\u00a0", "“", "”")
    assert non_gsm_chars("plain") == ()
    assert analyse("plain").non_gsm_chars == ()


def test_it_reassembles_unicode_text_with_emoji():
    rng = random.Random(7)
    pool = ["ж", "a", " ", EMOJI, "€", "’", "\U0001f44d\U0001f3fd"]  # thumbs up + skin tone
    text = "".join(rng.choice(pool) for _ in range(300))
    message = encode_message(text, ref=17)
    assert message.encoding == UCS2
    assert reassemble(message) == text


def test_it_joins_surrogates_written_as_separate_code_points():
    assert analyse("\ud83d\ude00").units == 2
    assert encode_message("\ud83d\ude00", ref=0).parts == (EMOJI.encode("utf-16-be"),)


def test_it_replaces_a_lone_surrogate_instead_of_failing():
    assert reassemble(encode_message("a\ud83db", ref=0)) == "a\ufffdb"


# --- encode_message ---------------------------------------------------------


def test_a_single_part_message_has_no_udh():
    message = encode_message("Hello", ref=5)
    assert message == EncodedMessage(GSM7, 0x00, 0, (b"Hello",), 1, None)


def test_it_prefixes_each_part_with_an_8_bit_reference_udh():
    message = encode_message("a" * 200, ref=0xAB)
    assert message.esm_class == 0x40
    assert message.parts[0][:6] == bytes([5, 0, 3, 0xAB, 2, 1])
    assert message.parts[1][:6] == bytes([5, 0, 3, 0xAB, 2, 2])
    assert [len(p) for p in message.parts] == [6 + 153, 6 + 47]


@pytest.mark.parametrize(("text", "data_coding"), [("hi", 0x00), ("hi’", 0x08)])
def test_it_chooses_data_coding_by_alphabet(text, data_coding):
    assert encode_message(text, ref=0).data_coding == data_coding


def test_it_uses_the_binds_gsm_data_coding_for_gsm_text_only():
    assert encode_message("hi", ref=0, gsm_data_coding=0x01).data_coding == 0x01
    assert encode_message("hi’", ref=0, gsm_data_coding=0x01).data_coding == 0x08


def test_it_encodes_ucs2_as_utf16_big_endian():
    assert encode_message("ж", ref=0).parts == (b"\x04\x36",)


def test_payload_mode_puts_the_whole_text_in_one_payload():
    text = "€" + "a" * 300
    message = encode_message(text, ref=1, concat="payload")
    assert message.parts == ()
    assert message.esm_class == 0
    assert message.payload == text.encode("gsm03.38")
    assert message.segments == analyse(text).segments == 2


def test_payload_mode_uses_a_payload_even_for_short_text():
    message = encode_message("hi’", ref=1, concat="payload")
    assert (message.parts, message.payload, message.segments) == ((), "hi’".encode("utf-16-be"), 1)


@pytest.mark.parametrize("ref", [-1, 256])
def test_it_rejects_a_reference_outside_one_octet(ref):
    with pytest.raises(ValueError, match="0-255"):
        encode_message("hi", ref=ref)


def test_it_rejects_an_unknown_concat_mode():
    with pytest.raises(ValueError, match="concat"):
        encode_message("hi", ref=0, concat="sar")


def test_it_refuses_more_parts_than_a_udh_can_number():
    assert encode_message("a" * 153 * 255, ref=0).segments == 255
    with pytest.raises(ValueError, match="256 parts"):
        encode_message("a" * (153 * 255 + 1), ref=0)


def test_analyse_agrees_with_encode_message_on_random_texts():
    rng = random.Random(20261101)
    alphabet = ["a", "Z", " ", "0", "€", "[", "~", "\\", "\f", "§", "ж", "’", EMOJI, "\u00a0", "Ä"]
    for _ in range(600):
        # Mostly GSM texts, sometimes one non-GSM character, around the boundaries.
        pool = alphabet[:10] if rng.random() < 0.6 else alphabet
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 480)))
        info = analyse(text)
        message = encode_message(text, ref=rng.randint(0, 255))
        assert info.segments == message.segments == len(message.parts), text
        assert info.encoding == message.encoding
        assert 0 <= info.units_left_in_part <= info.units_per_part
        assert reassemble(message) == text
        single, concat = MAX_BODY_BYTES[info.encoding]
        limit = single if info.segments == 1 else concat
        assert all(len(split_udh(p, message.esm_class)[1]) <= limit for p in message.parts)


def test_units_left_in_part_is_the_room_in_the_last_part():
    assert analyse("a" * 150).units_left_in_part == 10
    assert analyse("a" * 170).units_left_in_part == 153 - 17
    assert analyse("ж" * 60).units_left_in_part == 10


# --- decode and split_udh ---------------------------------------------------


@pytest.mark.parametrize(
    ("data", "data_coding", "text"),
    [
        (b"\x1be5 \x00", 0x00, "€5 @"),
        (b"Hello", 0x01, "Hello"),
        (b"\x04\x36\xd8\x3d\xde\x00", 0x08, "ж" + EMOJI),
        (b"caf\xe9", 0x03, "café"),
        (b"caf\xe9", 0x04, "café"),
    ],
)
def test_it_decodes_by_data_coding(data, data_coding, text):
    assert decode(data, data_coding) == text


def test_it_decodes_broken_bytes_without_raising():
    assert "\ufffd" in decode(b"\x04", 0x08)
    assert decode(b"\x80", 0x00) == "\ufffd"


def test_it_returns_the_whole_message_when_there_is_no_udh_indicator():
    assert split_udh(b"\x05\x00\x03\x01\x02\x01hi", 0x00) == (None, b"\x05\x00\x03\x01\x02\x01hi")


def test_it_parses_an_8_bit_concatenation_header():
    assert split_udh(b"\x05\x00\x03\xab\x03\x02body", 0x40) == ((0xAB, 3, 2), b"body")


def test_it_parses_a_16_bit_concatenation_header():
    assert split_udh(b"\x06\x08\x04\x12\x34\x02\x01body", 0x40) == ((0x1234, 2, 1), b"body")


def test_it_skips_other_information_elements_in_the_header():
    # Port addressing (IEI 0x05) before the concatenation element.
    message = b"\x0b\x05\x04\x0b\x84\x23\xf0\x00\x03\x07\x02\x02body"
    assert split_udh(message, 0x43) == ((7, 2, 2), b"body")


def test_it_strips_a_header_without_concatenation():
    assert split_udh(b"\x06\x05\x04\x0b\x84\x23\xf0body", 0x40) == (None, b"body")


def test_it_keeps_the_bytes_of_a_malformed_header():
    assert split_udh(b"\x09\x00\x03", 0x40) == (None, b"\x09\x00\x03")


# --- look-alikes ------------------------------------------------------------


@pytest.mark.parametrize(
    ("ch", "suggestion"),
    [
        ("’", "'"),
        ("‘", "'"),
        ("“", '"'),
        ("”", '"'),
        ("–", "-"),
        ("—", "-"),
        ("…", "..."),
        ("\u00a0", " "),
        ("\u202f", " "),
        ("\u200b", ""),
        ("á", "a"),
        ("ç", "Ç"),
        ("ﬁ", "fi"),
        ("™", "TM"),
    ],
)
def test_it_suggests_a_gsm_lookalike(ch, suggestion):
    assert gsm_lookalike(ch) == suggestion
    assert is_gsm7(suggestion)


@pytest.mark.parametrize("ch", ["😀", "ж", "中", "a", "€"])
def test_it_has_no_lookalike_for_characters_without_a_twin_or_already_gsm(ch):
    assert gsm_lookalike(ch) is None


def test_replacing_lookalikes_brings_text_back_to_gsm():
    text = "It’s “great” – isn’t it…\u00a0ok"
    fixed = replace_lookalikes(text)
    assert fixed == "It's \"great\" - isn't it... ok"
    assert analyse("a" * 150 + text).segments > analyse("a" * 150 + fixed).segments
