"""What a delivery receipt's stat and err mean, for people.

stat is standard (SMPP 3.4 Appendix B). err is not: SMPP leaves it to the SMSC. Most SMSCs put a
GSM MAP error code there (3GPP TS 29.002, three digits), so that is what these meanings say; a
carrier's own documentation wins where it differs, which is why the code is always shown with
its meaning, never replaced by it.
"""

from __future__ import annotations

STAT_MEANINGS = {
    "DELIVRD": "delivered to the handset",
    "UNDELIV": "undeliverable",
    "EXPIRED": "expired before it could be delivered",
    "REJECTD": "rejected by the network",
    "DELETED": "deleted by the SMSC",
    "UNKNOWN": "final state unknown to the SMSC",
    "ACCEPTD": "accepted by the SMSC on the handset's behalf",
    "ENROUTE": "on its way",
}

ERR_MEANINGS = {
    "000": "no error",
    "001": "unknown subscriber",
    "005": "unidentified subscriber",
    "006": "absent subscriber",
    "009": "illegal subscriber",
    "011": "teleservice not provisioned",
    "012": "illegal equipment",
    "013": "call barred",
    "021": "facility not supported",
    "027": "absent subscriber (handset off or out of coverage)",
    "031": "subscriber busy",
    "032": "delivery failure on the handset",
    "033": "handset memory full",
    "034": "system failure",
    "035": "data missing",
    "036": "unexpected data value",
}


def stat_meaning(stat: str | None) -> str | None:
    return STAT_MEANINGS.get((stat or "").strip().upper())


def err_meaning(err: str | None) -> str | None:
    """The usual meaning of a receipt's err ("1", "001" and "0001" alike), or None if unknown."""
    digits = (err or "").strip()
    if not digits.isdigit() or int(digits) >= 1000:
        return None
    return ERR_MEANINGS.get(f"{int(digits):03d}")


def describe_receipt(stat: str | None, err: str | None) -> str:
    """ "UNDELIV (undeliverable), err 001: unknown subscriber" — code and meaning together."""
    text = stat or "no stat"
    meaning = stat_meaning(stat)
    if meaning:
        text += f" ({meaning})"
    if err and err.strip().strip("0"):
        err_text = err_meaning(err)
        text += f", err {err.strip()}" + (f": {err_text}" if err_text else "")
    return text
