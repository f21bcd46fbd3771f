"""Delivery receipts: recognise them, parse them, and match their message ids.

A receipt arrives as a deliver_sm whose esm_class says "SMSC delivery
receipt". Its facts may be in the short_message text (the de facto format of
SMPP 3.4 Appendix B, `id:… sub:… dlvrd:… submit date:… done date:… stat:…
err:… text:…`), in TLVs (receipted_message_id, message_state,
network_error_code), or both. SMSCs differ wildly in the text, so the parser
is tolerant rather than strict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dashboard.sms import lifecycle as lc

# esm_class bits 2-5 carry the message type; 0x04 is the SMSC delivery receipt.
# 0x08 (SME delivery acknowledgement) is *not* a receipt.
_MSGTYPE_MASK = 0x3C
_MSGTYPE_SMSC_RECEIPT = 0x04

# SMPP 3.4 §5.2.28 message_state values, written as the text receipts write them.
MESSAGE_STATES: dict[int, str] = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
}

# stat → our part status. None = the SMSC is still working on it.
FINAL_STATUSES: dict[str, str | None] = {
    "DELIVRD": lc.DELIVERED,
    "UNDELIV": lc.UNDELIVERABLE,
    "EXPIRED": lc.EXPIRED,
    "REJECTD": lc.REJECTED,
    "DELETED": lc.FAILED,
    "UNKNOWN": lc.FAILED,
    "ACCEPTD": None,
    "ENROUTE": None,
}

# What each stat means, for the reason shown on a message that did not arrive.
STAT_MEANINGS: dict[str, str] = {
    "DELIVRD": "delivered to the handset",
    "UNDELIV": "the network could not deliver it",
    "EXPIRED": "its validity period passed before the handset could be reached",
    "REJECTD": "the network or the SMSC refused it",
    "DELETED": "the SMSC deleted it",
    "UNKNOWN": "the SMSC does not know what became of it",
    "ACCEPTD": "accepted on the recipient's behalf",
    "ENROUTE": "on its way",
}

# The err field is the SMSC's own; most put the GSM MAP error there (3GPP TS 29.002), so the common
# ones are named, as a likely reading rather than a certainty.
MAP_ERRORS: dict[int, str] = {
    1: "unknown subscriber",
    5: "unidentified subscriber",
    6: "absent subscriber",
    9: "illegal subscriber",
    11: "teleservice not provisioned",
    12: "illegal equipment",
    13: "call barred",
    21: "facility not supported",
    27: "absent subscriber",
    31: "subscriber busy",
    32: "delivery failure",
    34: "system failure",
    36: "unexpected data value",
}

# Some SMSCs spell the states out in full.
_STAT_ALIASES = {
    "DELIVERED": "DELIVRD",
    "UNDELIVERABLE": "UNDELIV",
    "UNDELIVERED": "UNDELIV",
    "ACCEPTED": "ACCEPTD",
    "REJECTED": "REJECTD",
}

_KEY = re.compile(
    r"\b(id|sub|dlvrd|submit[ _-]?date|done[ _-]?date|stat|err|text)\s*:", re.IGNORECASE
)

# The layout nearly every SMSC sends, in its order: one match instead of the tolerant parser.
# Values hold no colon, so no key can hide inside one; anything else goes the tolerant way.
_STANDARD = re.compile(
    r"id:([^\s:]+) sub:([^\s:]*) dlvrd:([^\s:]*) submit date:([^\s:]*) done date:([^\s:]*)"
    r" stat:([^\s:]*) err:([^\s:]*)(?: text:(.*))?", re.IGNORECASE | re.DOTALL)
_STANDARD_KEYS = ("id", "sub", "dlvrd", "submit_date", "done_date", "stat", "err")

_ID_MODES = ("auto", "str", "hex", "dec", "hex_to_dec", "dec_to_hex")
_HEX = re.compile(r"[0-9a-f]+")
_DEC = re.compile(r"[0-9]+")
# Ids longer than this are not numbers anybody converts between bases.
_MAX_NUMERIC_ID = 64


@dataclass(frozen=True)
class Receipt:
    """What a delivery receipt says. Missing text fields are None."""

    message_id: str
    stat: str
    err: str | None = None
    submit_date: str | None = None
    done_date: str | None = None
    sub: str | None = None
    dlvrd: str | None = None
    text: str | None = None
    network_error_code: bytes | None = None

    @property
    def status(self) -> str | None:
        """Our final message status for this stat, or None while not final.

        An unrecognised stat is not treated as final: the raw value is kept
        for people to read and the message's own expiry settles it.
        """
        return FINAL_STATUSES.get(self.stat)


def describe_outcome(stat: str | None, err: str | None) -> str:
    """The reason shown for a receipt's outcome, e.g. "UNDELIV, err 001: the network could not
    deliver it (GSM MAP error 1: unknown subscriber?)"."""
    stat = (stat or "").upper()
    label = stat or "no stat"
    if err and err.strip("0"):
        label += f", err {err}"
    meaning = STAT_MEANINGS.get(stat, "a state this SMSC names its own way")
    text = f"{label}: {meaning}"
    if err and err.isdigit() and int(err) in MAP_ERRORS:
        text += f" (GSM MAP error {int(err)}: {MAP_ERRORS[int(err)]}?)"
    return text


def is_receipt(esm_class: int) -> bool:
    """True when a deliver_sm with this esm_class is an SMSC delivery receipt."""
    return (esm_class & _MSGTYPE_MASK) == _MSGTYPE_SMSC_RECEIPT


def _to_text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            value = value.decode("latin-1")
    # C-octet strings arrive with their terminating NUL(s).
    return value.replace("\x00", "").strip()


def _canonical_key(key: str) -> str:
    key = key.lower()
    if key.startswith("submit"):
        return "submit_date"
    if key.startswith("done"):
        return "done_date"
    return key


def _parse_fields(body: str) -> dict[str, str]:
    """Split `key:value` fields out of a receipt text, tolerating any order.

    Everything after `text:` is the text (it may hold spaces, colons, even
    "id:"), unless id or stat have not been seen yet and appear later: then
    the SMSC put the text first, and the next key ends it.
    """
    standard = _STANDARD.fullmatch(body)
    if standard is None:
        return _parse_any_layout(body)
    fields = {key: value for key, value in zip(_STANDARD_KEYS, standard.groups()) if value}
    if standard.group(8) is not None:
        fields["text"] = standard.group(8).strip()
    return fields


def _parse_any_layout(body: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    matches = list(_KEY.finditer(body))
    for i, match in enumerate(matches):
        key = _canonical_key(match.group(1))
        rest = matches[i + 1 :]
        if key == "text":
            later_keys = {_canonical_key(m.group(1)) for m in rest}
            if not ({"id", "stat"} & later_keys) - fields.keys():
                fields.setdefault("text", body[match.end() :].strip())
                break
            fields.setdefault("text", body[match.end() : rest[0].start()].strip())
            continue
        end = rest[0].start() if rest else len(body)
        tokens = body[match.end() : end].split()
        # First token only: trailing junk after the last field is not a value.
        if tokens:
            fields.setdefault(key, tokens[0])
    return fields


def _normalise_stat(stat: str) -> str:
    stat = stat.strip().upper()
    return _STAT_ALIASES.get(stat, stat)


def parse_receipt(
    *,
    short_message: bytes | str | None,
    receipted_message_id: bytes | str | None = None,
    message_state: int | None = None,
    network_error_code: bytes | None = None,
) -> Receipt | None:
    """Parse a receipt from its text, its TLVs, or both (TLVs win for id and state).

    Returns None when neither an id nor a stat can be found: that deliver_sm
    is not a receipt we can use. A receipt with a stat but no id comes back
    with message_id "" (keep it for reconciliation); one with an id but no
    stat comes back with stat "".
    """
    fields = _parse_fields(_to_text(short_message))
    message_id = _to_text(receipted_message_id) or fields.get("id", "")
    stat = _normalise_stat(fields.get("stat", ""))
    # A message_state outside the SMPP 3.4 table tells us nothing: keep the text's.
    if message_state is not None and message_state in MESSAGE_STATES:
        stat = MESSAGE_STATES[message_state]
    if not message_id and not stat:
        return None
    return Receipt(
        message_id=message_id,
        stat=stat,
        err=fields.get("err"),
        submit_date=fields.get("submit_date"),
        done_date=fields.get("done_date"),
        sub=fields.get("sub"),
        dlvrd=fields.get("dlvrd"),
        text=fields.get("text"),
        network_error_code=network_error_code or None,
    )


def _strip_id(raw: str) -> str:
    return raw.replace("\x00", "").strip().lower()


def _strip_zeros(digits: str) -> str:
    return digits.lstrip("0") or "0"


def normalise_message_id(raw: str, mode: str = "auto") -> str:
    """Canonical key for a message id, so a receipt's id matches submit_sm_resp's.

    `mode` says how to read `raw`:
      - "str": as an opaque string (whitespace and NULs stripped, lower-cased);
      - "hex": hexadecimal → lowercase hex without leading zeros;
      - "dec": decimal → decimal without leading zeros;
      - "hex_to_dec": hexadecimal, converted to decimal (for a bind whose
        responses carry hex ids while its receipts carry decimal ones);
      - "dec_to_hex": the reverse;
      - "auto": all digits → "dec", else hex digits → "hex", else "str".
    A value that does not fit the mode falls back to "str" rather than
    raising: this runs while a receipt waits for its response. Normalise the
    receipt side with `receipt_id_mode(mode)`.
    """
    if mode not in _ID_MODES:
        raise ValueError(f"unknown message id mode {mode!r}")
    value = _strip_id(raw)
    numeric = len(value) <= _MAX_NUMERIC_ID
    if mode == "auto":
        mode = "dec" if _DEC.fullmatch(value) else "hex" if _HEX.fullmatch(value) else "str"
    if mode in ("dec", "dec_to_hex") and numeric and _DEC.fullmatch(value):
        return _strip_zeros(value) if mode == "dec" else format(int(value), "x")
    if mode in ("hex", "hex_to_dec") and numeric and _HEX.fullmatch(value):
        return _strip_zeros(value) if mode == "hex" else str(int(value, 16))
    return value


def receipt_id_mode(mode: str) -> str:
    """The mode to normalise *receipt* ids with, given the bind's response-id mode.

    For "hex_to_dec" the response id is hex but the receipt id is already
    decimal, so it is read as "dec" (and vice versa); other modes apply to
    both sides unchanged.
    """
    return {"hex_to_dec": "dec", "dec_to_hex": "hex"}.get(mode, mode)


def message_id_candidates(raw: str) -> set[str]:
    """Every plausible canonical key for an id: as-is, zero-stripped, hex↔dec.

    Store parts under (or look receipts up by) these keys when a bind's id
    format is not configured. "10" yields {"10", "a"}, so keep the lookup
    scoped to one bind and prefer an exact match: across formats two
    different messages could share a key.
    """
    value = _strip_id(raw)
    if not value:
        return set()
    keys = {value}
    if len(value) <= _MAX_NUMERIC_ID:
        if _DEC.fullmatch(value):
            keys.add(_strip_zeros(value))
            keys.add(format(int(value), "x"))
        if _HEX.fullmatch(value):
            keys.add(_strip_zeros(value))
            keys.add(str(int(value, 16)))
    return keys
