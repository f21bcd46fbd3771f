"""One readable line per event of a message's timeline; the raw fields stay beside it.

The timeline keeps every protocol event with its raw fields (docs/architecture.md #5). People read "Accepted
by the SMSC as 5f3a" and "Receipt UNDELIV (undeliverable), err 001: unknown subscriber" faster
than JSON, so each event gets a sentence and a tone, made from the same fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dashboard.sms.receipt_codes import describe_receipt, stat_meaning
from dashboard.sms.smpp_status import status_description, status_name

TONES = ("info", "ok", "warn", "error")
_FAILED = {"undeliverable", "expired", "rejected", "failed", "partially_delivered"}
_STAT_TONES = {"DELIVRD": "ok", "ENROUTE": "info", "ACCEPTD": "info"}


@dataclass(frozen=True)
class EventLine:
    title: str  # what happened, in a few words: "submit_sm sent", "Receipt"
    text: str  # the particulars, in plain words
    tone: str = "info"  # one of TONES, for its colour


def describe_event(
    kind: str, detail: Mapping[str, Any] | None, bind_names: Mapping[int, str] | None = None
) -> EventLine:
    """The line shown for one timeline event."""
    detail = detail or {}
    describe = _DESCRIBERS.get(kind)
    if describe is None:
        shown = ", ".join(f"{k}={v}" for k, v in detail.items() if k != "seq")
        return EventLine(kind.replace("_", " "), shown)
    return describe(detail, bind_names or {})


def _queued(d: Mapping[str, Any], names: Mapping[int, str]) -> EventLine:
    parts = d.get("segments")
    encoding = {"gsm7": "GSM-7", "ucs2": "UCS-2"}.get(str(d.get("encoding")), d.get("encoding"))
    bind = names.get(d.get("bind_id")) if d.get("bind_id") is not None else None
    where = f", for bind {bind}" if bind else (", no bind yet" if d.get("bind_id") is None else "")
    route = f" (route #{d['route_id']})" if d.get("route_id") else ""
    return EventLine("Queued", f"{parts} part{'s' if parts != 1 else ''}, {encoding}{where}{route}")


def _submit(d: Mapping[str, Any], _names) -> EventLine:
    text = f"part {d.get('part', '?')}, sequence {d.get('sequence', '?')}"
    if d.get("session"):
        text += f" on session {d['session']}"
    if d.get("possible_duplicate"):
        return EventLine(
            "submit_sm sent",
            text + " — a retry after an unanswered submit: possible duplicate",
            "warn",
        )
    return EventLine("submit_sm sent", text)


def _response(d: Mapping[str, Any], _names) -> EventLine:
    code = d.get("command_status")
    if code in (0, None):
        smsc_id = d.get("message_id")
        return EventLine(
            "Accepted by the SMSC", f"SMSC id {smsc_id}" if smsc_id else "no SMSC id given", "ok"
        )
    name = d.get("status_name") or status_name(int(code))
    return EventLine(
        "Refused by the SMSC",
        f"{name} (0x{int(code):08X}): {status_description(int(code))}",
        "error",
    )


def _timeout(d: Mapping[str, Any], _names) -> EventLine:
    return EventLine(
        "No response",
        f"{d.get('reason') or 'no submit_sm_resp'}; it is retried, marked as a possible duplicate",
        "warn",
    )


def _receipt(d: Mapping[str, Any], _names) -> EventLine:
    stat = d.get("stat")
    tone = _STAT_TONES.get(str(stat or "").upper(), "error" if stat_meaning(stat) else "warn")
    return EventLine("Receipt", describe_receipt(stat, d.get("err")), tone)


def _status(d: Mapping[str, Any], _names) -> EventLine:
    status = str(d.get("status", "?"))
    tone = "ok" if status == "delivered" else "error" if status in _FAILED else "info"
    text = status.replace("_", " ")
    if d.get("reason"):
        text += f": {d['reason']}"
    return EventLine("Status", text, tone)


def _requeued(d: Mapping[str, Any], _names) -> EventLine:
    text = str(d.get("reason") or "retry")
    if d.get("retry_in_s"):
        text += f"; next attempt in {float(d['retry_in_s']):.0f} s"
    return EventLine("Back in the queue", text, "warn")


_DESCRIBERS = {
    "queued": _queued,
    "submit_sm": _submit,
    "submit_sm_resp": _response,
    "response_timeout": _timeout,
    "deliver_sm": _receipt,
    "status": _status,
    "requeued": _requeued,
}
