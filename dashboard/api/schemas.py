"""The API's request and response bodies, as pydantic models: they validate what comes in (each
refusal names its field) and are the source of the OpenAPI document (spec.py), so the document
cannot drift from what the code accepts and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from dashboard.models.api import SCOPES
from dashboard.sms.lifecycle import MESSAGE_STATES

# No control characters in names, references and numbers; a text may hold line breaks and tabs but
# never NUL, which PostgreSQL cannot store.
_LINE = r"^[^\x00-\x1f\x7f]*$"
_TEXT = r"^[^\x00]*$"
Line = Annotated[str, Field(pattern=_LINE)]
Phone = Annotated[
    str,
    Field(
        min_length=1,
        max_length=32,
        pattern=r"^\+?[0-9 ().\-]+$",
        description="E.164 (+14155552671) or a national number of the server's region",
        examples=["+14155552671"],
    ),
]
# Ids are positive 32-bit integers: the id columns are INTEGER on PostgreSQL (64-bit on SQLite).
MAX_ID = 2**31 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Cursor = Annotated[
    str | None, Field(pattern=r"^[0-9]{1,10}$", description="`next_cursor` of the page before")
]
# JSON numbers a JavaScript client, orjson and both databases all keep exactly.
ParamValue = (
    Annotated[str, Field(max_length=1000, pattern=_TEXT)]
    | Annotated[int, Field(ge=-(2**53), le=2**53)]
    | float
    | bool
    | None
)
Params = Annotated[
    dict[Annotated[str, Field(max_length=64, pattern=_LINE)], ParamValue], Field(max_length=50)
]
Url = Annotated[
    str,
    Field(
        max_length=2000,
        pattern=r"^https?://[^\s\x00-\x1f]+$",
        examples=["https://example.com/hooks/sms"],
    ),
]
Status = Literal[MESSAGE_STATES]  # type: ignore[valid-type]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Query(BaseModel):
    # An unknown parameter is refused, as in bodies: a typo (`stauts=failed`) must not quietly
    # answer with every message.
    model_config = ConfigDict(extra="forbid")


class Body(BaseModel):
    model_config = ConfigDict(populate_by_name=True, ser_json_timedelta="float")


# ----------------------------------------------------------------------------- messages


class SendMessage(Request):
    """One message: a text, or a template and its params."""

    to: Phone
    from_: Annotated[
        str,
        Field(
            alias="from",
            min_length=1,
            max_length=20,
            pattern=_LINE,
            description="An approved sender ID (alphanumeric, short code or long number)",
            examples=["Acme"],
        ),
    ]
    text: Annotated[
        str | None, Field(max_length=50_000, pattern=_TEXT, examples=["Your order has shipped."])
    ] = None
    template_id: Id | None = None
    params: Params | None = None
    callback_url: Url | None = Field(
        default=None, description="Status webhooks go here (else the key's URL)"
    )
    client_ref: Annotated[str | None, Field(max_length=128, pattern=_LINE)] = None
    schedule_at: AwareDatetime | None = Field(
        default=None, description="Not sent before this time (at most 7 days ahead)"
    )
    validity_period: Annotated[
        int | None, Field(ge=60, le=7 * 86400, description="Seconds; not sent by then: expired")
    ] = None
    priority: Literal["transactional", "marketing"] = "transactional"

    @model_validator(mode="after")
    def _text_or_template(self) -> SendMessage:
        if (self.text is None) == (self.template_id is None):
            raise ValueError("give either text or template_id (with params)")
        if self.params is not None and self.template_id is None:
            raise ValueError("params go with template_id")
        return self


class SendBatch(Request):
    messages: Annotated[list[SendMessage], Field(min_length=1, max_length=10_000)]


class Price(Body):
    amount: str | None = Field(
        description="Decimal, as recorded when the message was queued or its parts sent"
    )
    currency: str | None


class Error(Body):
    code: int | None = Field(description="SMPP command_status")
    name: str | None = Field(description="Its name, e.g. ESME_RINVDSTADR")


class Receipt(Body):
    stat: str | None
    err: str | None


class Part(Body):
    part: int
    status: str
    smsc_message_id: str | None
    receipt: Receipt | None
    error: str | None
    price: Price | None
    submitted_at: datetime | None
    done_at: datetime | None


class MessageOut(Body):
    id: int
    status: Status
    to: str
    from_: str = Field(alias="from")
    text: str
    client_ref: str | None
    callback_url: str | None
    priority: int
    encoding: str
    segments: int
    price_per_segment: Price
    cost: Price = Field(description="What the parts accepted so far cost")
    reason: str | None
    error: Error | None
    campaign_id: int | None
    created_at: datetime
    scheduled_at: datetime | None
    valid_until: datetime | None
    submitted_at: datetime | None
    done_at: datetime | None
    parts: list[Part]


class AcceptedMessage(Body):
    id: int
    to: str
    client_ref: str | None
    status: Status
    encoding: str
    segments: int


class BatchAccepted(Body):
    count: int
    data: list[AcceptedMessage]


class MessageList(Body):
    data: list[MessageOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next (older) page; null: no more"
    )


class ListMessages(Query):
    status: Status | None = None
    created_after: AwareDatetime | None = None
    created_before: AwareDatetime | None = None
    client_ref: Annotated[str | None, Field(max_length=128, pattern=_LINE)] = None
    to: Phone | None = None
    cursor: Cursor = None
    limit: Annotated[int, Field(ge=1, le=100)] = 50


class Page(Query):
    cursor: Cursor = None
    limit: Annotated[int, Field(ge=1, le=100)] = 50


class InboundOut(Body):
    id: int
    from_: str = Field(alias="from")
    to: str
    text: str
    keyword: str | None
    received_at: datetime


class InboundList(Body):
    data: list[InboundOut]
    next_cursor: str | None


# ----------------------------------------------------------------------------- contacts and consent


class ContactIn(Request):
    phone: Phone
    name: Annotated[str | None, Field(max_length=200, pattern=_LINE)] = None
    fields: Params | None = None


class ContactUpdate(Request):
    name: Annotated[str | None, Field(max_length=200, pattern=_LINE)] = None
    fields: Params | None = None


class Lookup(Request):
    phone: Phone


class ConsentChange(Request):
    """An opt-in or opt-out, with the evidence that lands in the consent ledger (source "api")."""

    list_id: Id | None = Field(default=None, description="One list; omitted: everything we send")
    brand: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=80,
            pattern=_LINE,
            description="Opt-out of one brand's senders only",
        ),
    ] = None
    evidence: Annotated[
        str,
        Field(
            min_length=1,
            max_length=2000,
            pattern=_TEXT,
            description="How the person said so: a form, a recorded call…",
        ),
    ]


class ListState(Body):
    list_id: int
    list_name: str
    subscribed: bool


class ConsentState(Body):
    opted_out_everywhere: bool
    lists: list[ListState]
    brands_opted_out: list[str]


class ContactOut(Body):
    id: int
    phone: str
    name: str
    fields: dict[
        str, str | int | float | bool | None
    ]  # as stored: imports may have written any of these
    country: str | None
    time_zone: str | None
    created_at: datetime
    consent: ConsentState


class LedgerEvent(Body):
    id: int
    kind: Literal["opt_in", "opt_out"]
    list_id: int | None
    source: str
    evidence: str
    actor: str
    created_at: datetime
    hash: str


class Decision(Body):
    allowed: bool
    reason: str
    event_id: int | None


class ConsentProof(Body):
    contact_id: int
    phone: str
    state: ConsentState
    decision: Decision = Field(
        description="From the ledger alone: may we text this number now (outside any list)"
    )
    events: list[LedgerEvent]


# ----------------------------------------------------------------------------- campaigns


class Progress(Body):
    audience: int
    materialised: int
    queued: int
    submitted: int
    delivered: int
    failed: int
    skipped: int
    cancelled: int
    percent_done: int
    delivery_rate: float | None


class FailureCount(Body):
    status: str
    error: str
    reason: str
    count: int


class Report(Body):
    by_status: dict[str, int]
    segments: int
    parts_submitted: int
    delivered_pct: float | None
    cost: list[Price]
    failures: list[FailureCount]


class CampaignOut(Body):
    id: int
    name: str
    status: str
    kind: str
    list_id: int
    sender: str
    scheduled_at: datetime
    created_at: datetime
    launched_at: datetime | None
    completed_at: datetime | None
    progress: Progress


class CampaignDetail(CampaignOut):
    report: Report


class CampaignList(Body):
    data: list[CampaignOut]
    next_cursor: str | None


# ----------------------------------------------------------------------------- one-time codes


class VerifyStart(Request):
    to: Phone
    from_: Annotated[str, Field(alias="from", min_length=1, max_length=20, pattern=_LINE)]
    channel: Literal["sms"] = "sms"
    template: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=1000,
            pattern=_TEXT,
            description="Text with {{ code }} (and {{ minutes }})",
        ),
    ] = None
    code_length: Annotated[int | None, Field(ge=4, le=10)] = None
    expiry_minutes: Annotated[int | None, Field(ge=1, le=60)] = None


class VerificationOut(Body):
    id: int
    to: str
    channel: str
    status: str
    message_id: int | None
    expires_at: datetime
    created_at: datetime


class VerifyCheck(Request):
    to: Phone
    code: Annotated[str, Field(pattern=r"^[0-9]{4,10}$")]


class CheckResult(Body):
    status: Literal["approved", "denied"]
    verification_id: int | None
    attempts_left: int


# ----------------------------------------------------------------------------- problems


class FieldError(Body):
    field: str | None = Field(
        description="Where in the request: `to`, `messages[3].to`, `query.limit`"
    )
    type: str | None = Field(default=None, description="The problem type of this item (batches)")
    index: int | None = Field(default=None, description="The item of a batch")
    detail: str


class ProblemOut(Body):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[FieldError] | None = None


class ProblemTypeOut(Body):
    type: str
    title: str
    status: int
    description: str


SCOPE_NAMES = SCOPES
