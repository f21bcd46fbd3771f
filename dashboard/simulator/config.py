"""Configuration of the SMSC simulator: what it accepts and how it misbehaves."""

from __future__ import annotations

from dataclasses import dataclass, field

MESSAGE_ID_FORMATS = ("hex", "dec", "uuid")
RECEIPT_ID_FORMATS = ("same", "dec", "hex_zero_padded")
RECEIPT_STYLES = ("text+tlv", "text", "tlv")

# SMPP 3.4 §5.2.28 message_state values for the receipt stat words.
MESSAGE_STATES = {
    "ENROUTE": 1,
    "DELIVRD": 2,
    "EXPIRED": 3,
    "DELETED": 4,
    "UNDELIV": 5,
    "ACCEPTD": 6,
    "UNKNOWN": 7,
    "REJECTD": 8,
}


@dataclass
class OutcomeRule:
    """What happens to messages whose destination matches `pattern` (re.search).

    The first matching rule wins. A non-zero `submit_status` rejects the submit_sm
    with that command_status and sends no receipt; otherwise the receipt carries `stat`.
    """

    pattern: str
    stat: str = "DELIVRD"
    submit_status: int = 0


@dataclass
class SimulatorConfig:
    """Everything the simulator can be told; the defaults behave like a polite SMSC."""

    host: str = "127.0.0.1"
    port: int = 2775  # 0 → ephemeral; Simulator.port gives the real one
    accounts: dict[str, str] = field(default_factory=lambda: {"switchboard": "secret"})
    receipt_delay: float = 0.5
    outcomes: list[OutcomeRule] = field(default_factory=list)
    message_id_format: str = "hex"
    receipt_id_format: str = "same"
    receipt_style: str = "text+tlv"
    receipt_before_response: bool = False
    duplicate_receipts: int = 1
    max_tps: float | None = None
    throttle_ratio: float = 0.0
    drop_response_ratio: float = 0.0
    seed: int = 1
    # Like a real SMSC, re-send a deliver_sm (receipt or MO) whose deliver_sm_resp has not
    # arrived after this many seconds; None turns it off. Unanswered deliveries on a
    # connection that drops are always queued again for the next receiver bind.
    redeliver_after: float | None = 10.0
    # Observation lists keep at most this many entries (oldest dropped); None keeps all.
    # The tests and benchmarks keep everything; a long-running demo should not.
    keep_records: int | None = None

    def validate(self) -> None:
        """Raise ValueError on a value the simulator cannot honour."""
        if self.message_id_format not in MESSAGE_ID_FORMATS:
            raise ValueError(f"message_id_format must be one of {MESSAGE_ID_FORMATS}")
        if self.receipt_id_format not in RECEIPT_ID_FORMATS:
            raise ValueError(f"receipt_id_format must be one of {RECEIPT_ID_FORMATS}")
        if self.receipt_style not in RECEIPT_STYLES:
            raise ValueError(f"receipt_style must be one of {RECEIPT_STYLES}")
        for rule in self.outcomes:
            if rule.stat not in MESSAGE_STATES:
                raise ValueError(f"unknown receipt stat {rule.stat!r}")
        if self.duplicate_receipts < 1:
            raise ValueError("duplicate_receipts must be at least 1")
        for name in ("throttle_ratio", "drop_response_ratio"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.keep_records is not None and self.keep_records < 1:
            raise ValueError("keep_records must be positive (or None to keep everything)")
        if self.max_tps is not None and self.max_tps <= 0:
            raise ValueError("max_tps must be positive (or None for no limit)")
