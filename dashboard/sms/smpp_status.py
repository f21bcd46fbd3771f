"""SMPP command_status codes: names for people, and whether to retry.

The retry decision follows Kannel's (throttling, queue full, system error,
temporary application error are temporary; everything else is a rejection),
with two additions documented in `TRANSIENT`.
"""

from __future__ import annotations

from smpplib import consts

ESME_ROK = 0x00000000
ESME_RINVBNDSTS = 0x00000004
ESME_RSYSERR = 0x00000008
ESME_RMSGQFUL = 0x00000014
ESME_RSUBMITFAIL = 0x00000045
ESME_RTHROTTLED = 0x00000058
ESME_RX_T_APPN = 0x00000064

# Built from smpplib's constants so every code it knows has a name.
_NAMES: dict[int, str] = {
    getattr(consts, name): name.removeprefix("SMPP_")
    for name in dir(consts)
    if name.startswith("SMPP_ESME_")
}

# smpplib leaves a few descriptions unset.
_DESCRIPTION_FIXES: dict[int, str] = {
    0x00000007: "Invalid Registered Delivery Flag",
}

# The SMSC is telling us to slow down, not that the message is bad.
THROTTLING: frozenset[int] = frozenset({ESME_RTHROTTLED, ESME_RMSGQFUL})

# Codes worth retrying, and why:
#   0x58 ESME_RTHROTTLED  we exceeded the contracted rate; slow down and resend.
#   0x14 ESME_RMSGQFUL    the SMSC's queue is full; same remedy as throttling.
#   0x08 ESME_RSYSERR     the SMSC failed internally; the message was fine.
#   0x64 ESME_RX_T_APPN   "temporary application error" by definition.
#   0x45 ESME_RSUBMITFAIL generic "submit failed"; SMSCs use it for passing
#                         routing and capacity trouble. A bounded retry costs
#                         little; dropping a good message costs a customer.
#   0x04 ESME_RINVBNDSTS  our session was not (or no longer) bound as a
#                         transmitter: a connection problem, not a message
#                         problem. Resend after the rebind.
# Deliberately permanent:
#   0xFE ESME_RDELIVERYFAILURE  the network tried and failed to deliver; the
#                         receipt/network_error_code, not a blind resend, says more.
#   0xFF ESME_RUNKNOWNERR and vendor codes (0x400-0x4FF): unknown meaning, so
#                         like Kannel we do not resend (no unbounded spend).
TRANSIENT: frozenset[int] = THROTTLING | {
    ESME_RSYSERR,
    ESME_RX_T_APPN,
    ESME_RSUBMITFAIL,
    ESME_RINVBNDSTS,
}


def status_name(code: int) -> str:
    """The ESME_* name of a command_status, e.g. 0x58 → "ESME_RTHROTTLED"; else "0x%08X"."""
    return _NAMES.get(code, f"0x{code:08X}")


def status_description(code: int) -> str:
    """A human description of a command_status (smpplib's wording)."""
    if code in _DESCRIPTION_FIXES:
        return _DESCRIPTION_FIXES[code]
    if code in consts.DESCRIPTIONS:
        return consts.DESCRIPTIONS[code]
    if 0x400 <= code <= 0x4FF:
        return "SMSC vendor-specific error"
    return "Unknown status"


def is_throttling(code: int) -> bool:
    """True when the code means "too fast" (slow the bind down, keep the message)."""
    return code in THROTTLING


def is_transient(code: int) -> bool:
    """True when resending the same message later may succeed."""
    return code in TRANSIENT


def is_permanent(code: int) -> bool:
    """True when resending the same message will not help (and the code is not OK)."""
    return code != ESME_ROK and not is_transient(code)


class SendError(Exception):
    """A message could not be sent. `permanent` says whether to give up on it."""

    def __init__(self, reason: str, permanent: bool = False, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.code = code

    @classmethod
    def from_status(cls, code: int) -> SendError:
        """The error for a failed submit_sm_resp, reason "ESME_RTHROTTLED: Throttling error…"."""
        reason = f"{status_name(code)}: {status_description(code)}"
        return cls(reason, permanent=is_permanent(code), code=code)

    def __repr__(self) -> str:
        return f"SendError({self.reason!r}, permanent={self.permanent!r}, code={self.code!r})"
