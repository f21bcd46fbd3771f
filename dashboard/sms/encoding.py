"""GSM 03.38 / UCS-2 encoding, segment counting and concatenation.

The counting side (`analyse`) and the sending side (`encode_message`) share one
splitter, `split_units`, so the segment count shown to a user while typing is
always the number of PDUs that will be sent (and billed).

We use the `gsm0338` codec for the character tables, always on whole strings:
its incremental encoder is broken, and `smpplib.gsm` has a wrong table and
splits escape sequences and surrogate pairs (see docs in DEPENDENCIES.md).
GSM text is produced *unpacked*: one septet per byte, the SMSC packs it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import gsm0338  # noqa: F401  (importing registers the "gsm03.38" codec)

GSM7 = "gsm7"
UCS2 = "ucs2"

GSM_CODEC = "gsm03.38"
UCS2_CODEC = "utf-16-be"

DATA_CODING_DEFAULT = 0x00
DATA_CODING_LATIN1 = 0x03
DATA_CODING_UCS2 = 0x08

ESM_CLASS_UDHI = 0x40

# A 6-octet concatenation UDH (05 00 03 ref total seq) costs 7 septets or
# 3 UTF-16 code units, hence 153 and 67.
GSM7_SINGLE = 160
GSM7_CONCAT = 153
UCS2_SINGLE = 70
UCS2_CONCAT = 67

# The 8-bit reference UDH carries total and sequence in one octet each.
MAX_SEGMENTS = 255

_ESCAPE = "\x1b"


def _build_gsm_widths() -> dict[str, int]:
    """Map every GSM 03.38 character to its septet count (1, or 2 if escaped)."""
    chars: set[str] = set()
    for septet in range(0x80):
        for raw in (bytes([septet]), bytes([0x1B, septet])):
            try:
                chars.add(raw.decode(GSM_CODEC))
            except UnicodeDecodeError:
                pass
    # The codec maps a literal ESC to 0x1B, but on the air that byte means
    # "next septet is from the extension table": it would eat the following
    # character. Treat it as unencodable so such text goes out as UCS-2.
    chars.discard(_ESCAPE)
    chars.discard("")
    # Ask the encoder itself, so counting can never disagree with encoding.
    return {ch: len(ch.encode(GSM_CODEC)) for ch in chars}


_GSM_WIDTHS: dict[str, int] = _build_gsm_widths()

_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class SegmentInfo:
    """What a text costs: encoding, number of parts and room left."""

    encoding: str
    segments: int
    units: int
    units_per_part: int
    units_left_in_part: int
    non_gsm_chars: tuple[str, ...]


@dataclass(frozen=True)
class EncodedMessage:
    """A text ready for submit_sm: one `short_message` per part, or one payload."""

    encoding: str
    data_coding: int
    esm_class: int
    parts: tuple[bytes, ...]
    segments: int
    payload: bytes | None = None


def _clean(text: str) -> str:
    """Join surrogate pairs written as two code points and replace lone ones.

    Text from some browsers or JSON decoders can carry surrogates as separate
    code points; a lone one cannot be encoded in UTF-16 at all, so it becomes
    U+FFFD rather than an exception in the sender.
    """
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def is_gsm7(text: str) -> bool:
    """True when every character of `text` exists in the GSM 03.38 alphabet."""
    return all(ch in _GSM_WIDTHS for ch in text)


def non_gsm_chars(text: str) -> tuple[str, ...]:
    """The distinct characters that force UCS-2, in order of first appearance."""
    return tuple(dict.fromkeys(ch for ch in text if ch not in _GSM_WIDTHS))


def _width(ch: str, encoding: str) -> int:
    if encoding == GSM7:
        return _GSM_WIDTHS[ch]
    # Outside the BMP a character is a surrogate pair: two UTF-16 code units.
    return 2 if ord(ch) > 0xFFFF else 1


def _limits(encoding: str) -> tuple[int, int]:
    return (GSM7_SINGLE, GSM7_CONCAT) if encoding == GSM7 else (UCS2_SINGLE, UCS2_CONCAT)


def _encoding_for(text: str) -> str:
    return GSM7 if is_gsm7(text) else UCS2


def split_units(text: str, encoding: str | None = None) -> list[str]:
    """Split `text` into the strings that go into each part.

    Greedy fill up to the concatenated limit, but a character is never cut:
    an escaped GSM character (2 septets) or an emoji (2 UTF-16 code units)
    that does not fit moves whole to the next part. Text that fits the
    single-part limit stays one part; empty text is one (empty) part.
    """
    text = _clean(text)
    encoding = encoding or _encoding_for(text)
    single, concat = _limits(encoding)
    widths = [_width(ch, encoding) for ch in text]
    if sum(widths) <= single:
        return [text]
    parts: list[str] = []
    start = used = 0
    for i, w in enumerate(widths):
        if used + w > concat:
            parts.append(text[start:i])
            start, used = i, 0
        used += w
    parts.append(text[start:])
    return parts


def analyse(text: str) -> SegmentInfo:
    """Count encoding, parts and room left exactly as `encode_message` will send it."""
    text = _clean(text)
    encoding = _encoding_for(text)
    parts = split_units(text, encoding)
    single, concat = _limits(encoding)
    per_part = single if len(parts) == 1 else concat
    last_units = sum(_width(ch, encoding) for ch in parts[-1])
    return SegmentInfo(
        encoding=encoding,
        segments=len(parts),
        units=sum(_width(ch, encoding) for ch in text),
        units_per_part=per_part,
        units_left_in_part=per_part - last_units,
        non_gsm_chars=() if encoding == GSM7 else non_gsm_chars(text),
    )


def _encode_part(part: str, encoding: str) -> bytes:
    return part.encode(GSM_CODEC if encoding == GSM7 else UCS2_CODEC)


def encode_message(
    text: str, *, ref: int, concat: str = "udh", gsm_data_coding: int = DATA_CODING_DEFAULT
) -> EncodedMessage:
    """Encode `text` for submit_sm.

    GSM-7 text uses `gsm_data_coding` (0x00, the SMSC default alphabet, unless
    the SMSC wants 0x01); anything else goes as UCS-2 (UTF-16-BE, 0x08).

    `concat="udh"`: one short_message per part, each prefixed with the 8-bit
    reference UDH `05 00 03 ref total seq` and esm_class 0x40; a single part
    never gets a UDH. `concat="payload"`: the whole text in `payload` for the
    message_payload TLV, `parts` empty, even for a short text (SMPP forbids
    using short_message and message_payload together, so callers get one
    shape per bind setting). `segments` is the part count either way, since
    the SMSC splits a payload the same way and bills per part.

    Raises ValueError for a bad `ref`/`concat`, or more than 255 UDH parts.
    """
    if not 0 <= ref <= 0xFF:
        raise ValueError(f"concatenation reference must be 0-255, got {ref}")
    if concat not in ("udh", "payload"):
        raise ValueError(f"concat must be 'udh' or 'payload', got {concat!r}")
    text = _clean(text)
    encoding = _encoding_for(text)
    data_coding = gsm_data_coding if encoding == GSM7 else DATA_CODING_UCS2
    chunks = split_units(text, encoding)

    if concat == "payload":
        return EncodedMessage(
            encoding=encoding,
            data_coding=data_coding,
            esm_class=0,
            parts=(),
            segments=len(chunks),
            payload=_encode_part(text, encoding),
        )
    if len(chunks) == 1:
        return EncodedMessage(
            encoding=encoding,
            data_coding=data_coding,
            esm_class=0,
            parts=(_encode_part(text, encoding),),
            segments=1,
        )
    total = len(chunks)
    if total > MAX_SEGMENTS:
        raise ValueError(f"text needs {total} parts, at most {MAX_SEGMENTS} can be concatenated")
    parts = tuple(
        bytes([0x05, 0x00, 0x03, ref, total, seq]) + _encode_part(chunk, encoding)
        for seq, chunk in enumerate(chunks, start=1)
    )
    return EncodedMessage(
        encoding=encoding,
        data_coding=data_coding,
        esm_class=ESM_CLASS_UDHI,
        parts=parts,
        segments=total,
    )


def decode(data: bytes, data_coding: int) -> str:
    """Decode a short_message body (UDH already removed) to text.

    0x00/0x01 are read as unpacked GSM 03.38, 0x08 as UTF-16-BE, 0x03 as
    Latin-1; anything else as Latin-1, which never fails, so an inbound
    message is always stored rather than dropped. Bad bytes become U+FFFD.
    """
    if data_coding in (0x00, 0x01):
        return data.decode(GSM_CODEC, "replace")
    if data_coding == DATA_CODING_UCS2:
        return data.decode(UCS2_CODEC, "replace")
    return data.decode("latin-1")


def split_udh(
    short_message: bytes, esm_class: int
) -> tuple[tuple[int, int, int] | None, bytes]:
    """Strip a User Data Header; return ((ref, total, seq) or None, body).

    Understands 8-bit (IEI 0x00) and 16-bit (IEI 0x08) concatenation
    references. Without the UDHI bit in esm_class the whole short_message is
    the body. A header longer than the message is malformed: the bytes are
    returned untouched so nothing an SMSC sent is lost.
    """
    if not esm_class & ESM_CLASS_UDHI or not short_message:
        return None, short_message
    header_len = short_message[0]
    if header_len + 1 > len(short_message):
        return None, short_message
    header = short_message[1 : 1 + header_len]
    body = short_message[1 + header_len :]
    concat: tuple[int, int, int] | None = None
    i = 0
    while i + 2 <= len(header):
        iei, length = header[i], header[i + 1]
        value = header[i + 2 : i + 2 + length]
        if len(value) < length:
            break
        if iei == 0x00 and length == 3:
            concat = (value[0], value[1], value[2])
        elif iei == 0x08 and length == 4:
            concat = ((value[0] << 8) | value[1], value[2], value[3])
        i += 2 + length
    return concat, body


# Characters people paste from word processors and phones that have a GSM
# twin. Each costs the whole message UCS-2 (70 instead of 160 per part).
_LOOKALIKES: dict[str, str] = {
    "\u2018": "'",  # ‘
    "\u2019": "'",  # ’
    "\u201a": "'",  # ‚
    "\u201b": "'",  # ‛
    "\u2032": "'",  # ′
    "\u00b4": "'",  # ´
    "`": "'",
    "\u2039": "'",  # ‹
    "\u203a": "'",  # ›
    "\u201c": '"',  # “
    "\u201d": '"',  # ”
    "\u201e": '"',  # „
    "\u201f": '"',  # ‟
    "\u2033": '"',  # ″
    "\u00ab": '"',  # «
    "\u00bb": '"',  # »
    "\u2010": "-",  # hyphen
    "\u2011": "-",  # non-breaking hyphen
    "\u2012": "-",  # figure dash
    "\u2013": "-",  # –
    "\u2014": "-",  # —
    "\u2015": "-",  # horizontal bar
    "\u2212": "-",  # minus sign
    "\u2026": "...",  # …
    "\u00a0": " ",  # non-breaking space
    "\u2002": " ",
    "\u2003": " ",
    "\u2007": " ",
    "\u2009": " ",
    "\u200a": " ",
    "\u202f": " ",
    "\t": " ",
    "\u200b": "",  # zero-width space: invisible, just drop it
    "\ufeff": "",  # byte-order mark pasted at the start of a text
    "\u2022": "-",  # •
    "\u00b7": ".",  # ·
    "\u00d7": "x",  # ×
    "\u00f7": "/",  # ÷
    "\u00e7": "\u00c7",  # ç: GSM has only Ç, which handsets show for both
    "\u00a9": "(C)",
    "\u00ae": "(R)",
    "\u2122": "TM",
}


def gsm_lookalike(ch: str) -> str | None:
    """Suggest GSM-7 text that could replace `ch`, or None if there is none.

    Returns "" for invisible characters (zero-width space, BOM) that can just
    be removed, so test the result with `is not None`. Accented letters that
    GSM lacks fall back to the bare letter (á → a). A character that is
    already GSM-7 has nothing to replace: None.
    """
    if ch in _GSM_WIDTHS:
        return None
    if ch in _LOOKALIKES:
        return _LOOKALIKES[ch]
    # NFKD splits "á" into "a" + combining accent and "ﬁ" into "fi".
    decomposed = unicodedata.normalize("NFKD", ch)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    if stripped and stripped != ch and is_gsm7(stripped):
        return stripped
    return None


def replace_lookalikes(text: str) -> str:
    """Replace every character that has a GSM look-alike; others stay as they are."""
    out = []
    for ch in text:
        suggestion = gsm_lookalike(ch)
        out.append(ch if suggestion is None else suggestion)
    return "".join(out)


def lookalike_advice(text: str, culprits: Iterable[str]) -> tuple[list[tuple[str, str | None]], str | None]:
    """What the live counters show under a text: each character that forced UCS-2 with its GSM
    look-alike (or None), and the whole text with the look-alikes put in — None when nothing did."""
    pairs = [(ch, gsm_lookalike(ch)) for ch in culprits]
    return pairs, (replace_lookalikes(text) if pairs else None)
