"""A week of past traffic for the demo, so that the first look at reports shows the product.

Five completed campaigns over the last seven days and a trickle of one-off messages, to the demo's
US, Canadian and Australian numbers through its two binds: delivered, undeliverable (numbers
ending in 7, as the simulator answers them), expired, rejected by the network and refused by the
SMSC; one and two parts; prices and currency from the routes; the timeline and the receipts each
message would have. Everything is written with one multi-row INSERT per table — the demo still
starts in a second or two.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import insert, select

from dashboard.extensions import db
from dashboard.models import (
    Bind,
    Campaign,
    Contact,
    ContactList,
    DeliveryReceipt,
    ListMembership,
    Message,
    MessageEvent,
    MessagePart,
    SenderId,
    User,
)
from dashboard.models.campaign import KINDS
from dashboard.services.campaigns import message_text
from dashboard.services.routing import Router
from dashboard.sms import lifecycle as lc
from dashboard.sms.encoding import analyse
from dashboard.sms.receipt_codes import describe_receipt
from dashboard.sms.receipts import normalise_message_id
from dashboard.sms.routing import matching_options
from dashboard.sms.traffic import ONE_TIME_CODE

# SMSC ids like the simulator's (seconds since 2024 shifted 16 bits, in hex): the seeded ones are
# a week old, so they never meet the ids of live traffic.
EPOCH_2024 = 1_704_067_200
ESME_RINVDSTADR = 0x0B


@dataclass(frozen=True)
class PastCampaign:
    name: str
    list_name: str
    kind: str
    days_ago: int
    hour: int
    text: str
    limit: int | None = None  # the first recipients only
    on_backup: float = 0.0  # share sent through the backup bind (the primary was down for a while)


CAMPAIGNS = (
    PastCampaign(
        "Spring sale",
        "Demo subscribers",
        "marketing",
        6,
        15,
        "Spring sale at Switchboard Store: 20% off everything this weekend. "
        "Show this text at the till.",
    ),
    PastCampaign(
        "Delivery window reminders",
        "Demo subscribers",
        "transactional",
        5,
        9,
        "Your Switchboard Store order arrives tomorrow between 9:00 and 13:00. "
        "Someone must be home to sign "
        "for it; to choose another day, reply with a date or call us on 555-0100.",
        limit=120,
    ),
    PastCampaign(
        "Toronto & Sydney launch",
        "Canada & Australia",
        "marketing",
        4,
        21,
        "Switchboard Store opens in Toronto and Sydney this Saturday: coffee on us from 10:00.",
    ),
    PastCampaign(
        "Weekend brunch offer",
        "Demo subscribers",
        "marketing",
        2,
        16,
        "Brunch for two at half price this Sunday with the code BRUNCH50.",
        on_backup=0.4,
    ),
    PastCampaign(
        "Flash sale: 24 hours",
        "Demo subscribers",
        "marketing",
        1,
        12,
        "Flash sale: 24 hours only, 30% off shoes. See you in store!",
        limit=200,
    ),
)
ONE_OFFS_PER_DAY = 6


@dataclass
class _Outcome:
    status: str
    stat: str | None  # the receipt's, or None when the SMSC refused the submit
    err: str | None
    receipt_after: timedelta


def _outcome(phone: str, rng: random.Random) -> _Outcome:
    """Realistic shares: the simulator's undeliverable numbers, then a few of each other failure."""
    if phone.endswith("7"):
        return _Outcome(lc.UNDELIVERABLE, "UNDELIV", "001", timedelta(seconds=rng.uniform(2, 6)))
    draw = rng.random()
    if draw < 0.015:
        return _Outcome(lc.EXPIRED, "EXPIRED", "027", timedelta(hours=rng.uniform(6, 20)))
    if draw < 0.022:
        return _Outcome(lc.REJECTED, "REJECTD", "013", timedelta(seconds=rng.uniform(1, 3)))
    if draw < 0.027:
        return _Outcome(lc.FAILED, None, None, timedelta(0))
    return _Outcome(lc.DELIVERED, "DELIVRD", "000", timedelta(seconds=rng.uniform(1.5, 12)))


class _Batch:
    """Rows for one bulk insert per table; parts and events refer to their message by position."""

    def __init__(self, bind_names: dict[int, str]) -> None:
        self.messages: list[dict] = []
        self.parts: list[list[dict]] = []
        self.events: list[list[dict]] = []
        self.receipts: list[list[dict]] = []  # per message, in part order; part_id filled in later
        self.bind_names = bind_names

    def add(
        self, *, message: dict, outcome: _Outcome, smsc_ids: Sequence[str], sent_at: datetime
    ) -> None:
        parts, events, receipts = [], [], []
        total = message["segments"]
        price = message["price_per_segment"]
        events.append(
            _event(
                "queued",
                message["created_at"],
                None,
                {
                    "seq": 1,
                    "bind_id": message["bind_id"],
                    "route_id": message["route_id"],
                    "segments": total,
                    "encoding": message["encoding"],
                },
            )
        )
        done = sent_at + outcome.receipt_after
        for number, smsc_id in enumerate(smsc_ids, 1):
            accepted = outcome.stat is not None
            part_state = {
                "DELIVRD": lc.DELIVERED,
                "UNDELIV": lc.UNDELIVERABLE,
                "EXPIRED": lc.EXPIRED,
                "REJECTD": lc.REJECTED,
            }.get(outcome.stat or "", lc.FAILED)
            parts.append(
                {
                    "part_no": number,
                    "parts_total": total,
                    "status": part_state,
                    "bind_id": message["bind_id"],
                    "session_id": "demo-history",
                    "sequence_number": number,
                    "smsc_message_id": smsc_id if accepted else None,
                    "smsc_id_key": normalise_message_id(smsc_id, "auto") if accepted else None,
                    "command_status": 0 if accepted else ESME_RINVDSTADR,
                    "error_name": None if accepted else "ESME_RINVDSTADR",
                    "receipt_stat": outcome.stat,
                    "receipt_err": outcome.err,
                    "price": price if accepted else None,
                    "currency": message["currency"] if accepted else None,
                    "submitting_at": sent_at,
                    "submitted_at": sent_at if accepted else None,
                    "done_at": done if accepted else sent_at,
                }
            )
            events.append(
                _event(
                    "submit_sm",
                    sent_at,
                    number,
                    {
                        "sequence": number,
                        "session": "demo-history",
                        "destination_addr": message["destination"][1:],
                        "source_addr": message["source"],
                        "esm_class": 0x40 if total > 1 else 0,
                        "data_coding": 0 if message["encoding"] == "gsm7" else 8,
                        "part": f"{number}/{total}",
                        "possible_duplicate": False,
                    },
                )
            )
            if not accepted:
                events.append(
                    _event(
                        "submit_sm_resp",
                        sent_at,
                        number,
                        {
                            "command_status": ESME_RINVDSTADR,
                            "status_name": "ESME_RINVDSTADR",
                            "message_id": None,
                        },
                    )
                )
                continue
            events.append(
                _event(
                    "submit_sm_resp",
                    sent_at,
                    number,
                    {"command_status": 0, "status_name": "ESME_ROK", "message_id": smsc_id},
                )
            )
            text = (
                f"id:{smsc_id} sub:001 dlvrd:{'001' if outcome.stat == 'DELIVRD' else '000'} "
                f"submit date:{sent_at:%y%m%d%H%M} done date:{done:%y%m%d%H%M} stat:{outcome.stat} "
                f"err:{outcome.err} text:{message['text'][:20]}"
            )
            raw = {
                "command": "deliver_sm",
                "esm_class": 4,
                "source_addr": message["destination"][1:],
                "destination_addr": message["source"],
                "data_coding": 0,
                "text": text,
                "receipted_message_id": smsc_id,
            }
            receipts.append(
                {
                    "bind_id": message["bind_id"],
                    "smsc_message_id": smsc_id,
                    "id_key": normalise_message_id(smsc_id, "auto"),
                    "stat": outcome.stat,
                    "err": outcome.err,
                    "raw": raw,
                    "received_at": done,
                    "matched_at": done,
                    "duplicate": False,
                }
            )
            events.append(
                _event(
                    "deliver_sm", done, number, {"stat": outcome.stat, "err": outcome.err, **raw}
                )
            )
        reason = None
        if outcome.status == lc.FAILED:
            reason = "refused by the SMSC: ESME_RINVDSTADR"
            message.update(error_code=ESME_RINVDSTADR, error_name="ESME_RINVDSTADR")
        elif outcome.status != lc.DELIVERED:
            reason = describe_receipt(outcome.stat, outcome.err)
        final_at = sent_at if outcome.stat is None else done
        events.append(
            _event("status", final_at, None, {"seq": 2, "status": outcome.status, "reason": reason})
        )
        message.update(
            status=outcome.status,
            reason=reason,
            submitting_at=sent_at,
            submitted_at=sent_at if outcome.stat else None,
            done_at=final_at,
        )
        self.messages.append(message)
        self.parts.append(parts)
        self.events.append(events)
        self.receipts.append(receipts)

    def write(self) -> int:
        """One INSERT per table; ids read back in order (RETURNING) to link the rows."""
        if not self.messages:
            return 0
        # In the order they were created, as the sender would have written them: ids follow time.
        order = sorted(
            range(len(self.messages)),
            key=lambda i: (self.messages[i]["created_at"], self.messages[i]["submitting_at"]),
        )
        self.messages, self.parts, self.events, self.receipts = (
            [rows[i] for i in order]
            for rows in (self.messages, self.parts, self.events, self.receipts)
        )
        ids = db.session.scalars(
            insert(Message).returning(Message.id, sort_by_parameter_order=True), self.messages
        ).all()
        part_rows = [
            dict(part, message_id=message_id)
            for message_id, parts in zip(ids, self.parts)
            for part in parts
        ]
        part_ids = iter(
            db.session.scalars(
                insert(MessagePart).returning(MessagePart.id, sort_by_parameter_order=True),
                part_rows,
            ).all()
        )
        receipts = []
        for parts, message_receipts in zip(self.parts, self.receipts):
            by_part = [next(part_ids) for _ in parts]
            accepted = [part_id for part_id, part in zip(by_part, parts) if part["smsc_message_id"]]
            receipts += [
                dict(receipt, part_id=part_id)
                for part_id, receipt in zip(accepted, message_receipts)
            ]
        if receipts:
            db.session.execute(insert(DeliveryReceipt), receipts)
        db.session.execute(
            insert(MessageEvent),
            [
                dict(event, message_id=message_id)
                for message_id, events in zip(ids, self.events)
                for event in events
            ],
        )
        return len(ids)


def _event(kind: str, at: datetime, part_no: int | None, detail: dict) -> dict:
    return {"kind": kind, "at": at, "part_no": part_no, "detail": detail}


def seed_past_traffic(now: datetime, seed: int = 12) -> int:
    """Write the demo's past week; returns the messages written. Call once, on an empty history."""
    rng = random.Random(seed)
    router = Router(now)
    bind_names = dict(db.session.execute(select(Bind.id, Bind.name)).all())
    sender = db.session.scalar(select(SenderId).order_by(SenderId.id))
    admin = db.session.scalar(select(User).where(User.role == "admin").order_by(User.id))
    approver = db.session.scalar(
        select(User).where(User.id != (admin.id if admin else 0)).order_by(User.id)
    )
    batch = _Batch(bind_names)
    id_counter = 0
    for past in CAMPAIGNS:
        contact_list = db.session.scalar(
            select(ContactList).where(ContactList.name == past.list_name)
        )
        if contact_list is None or sender is None:
            continue
        launched = (now - timedelta(days=past.days_ago)).replace(
            hour=past.hour, minute=0, second=0, microsecond=0
        )
        campaign = Campaign(
            name=past.name,
            list_id=contact_list.id,
            sender_id_id=sender.id,
            text=past.text,
            scheduled_at=launched,
            status="completed",
            kind=past.kind,
            priority=KINDS[past.kind],
            created_by_id=admin.id if admin else None,
            created_at=launched - timedelta(hours=3),
            submitted_at=launched - timedelta(hours=2),
            approved_by_id=approver.id if approver else None,
            approved_at=launched - timedelta(hours=1),
            launched_at=launched,
        )
        db.session.add(campaign)
        db.session.flush()
        contacts = db.session.execute(
            select(Contact.id, Contact.phone, Contact.name, Contact.fields, Contact.country)
            .join(ListMembership, ListMembership.contact_id == Contact.id)
            .where(ListMembership.list_id == contact_list.id, ListMembership.subscribed.is_(True))
            .order_by(Contact.id)
            .limit(past.limit)
        ).all()
        id_base = (int(launched.timestamp()) - EPOCH_2024) << 16
        last_done, cost = launched, Decimal("0")
        for index, (contact_id, phone, name, fields, country) in enumerate(contacts):
            text = message_text(campaign, name=name, phone=phone, fields=fields, country=country)
            message = _message(
                router,
                phone,
                text,
                sender.value,
                launched,
                past.on_backup,
                rng,
                campaign_id=campaign.id,
                contact_id=contact_id,
                priority=campaign.priority,
            )
            outcome = _outcome(phone, rng)
            sent_at = launched + timedelta(seconds=2 + index / 40)
            smsc_ids = [format(id_base + id_counter + n, "x") for n in range(message["segments"])]
            id_counter += message["segments"]
            batch.add(message=message, outcome=outcome, smsc_ids=smsc_ids, sent_at=sent_at)
            last_done = max(last_done, batch.messages[-1]["done_at"])
            if outcome.stat:
                cost += message["price_per_segment"] * message["segments"]
        campaign.materialised = len(contacts)
        campaign.launch_cursor = contacts[-1][0] if contacts else 0
        campaign.completed_at = last_done + timedelta(seconds=2)
        campaign.committed_cost = cost
    _one_offs(batch, router, sender, now, rng)
    written = batch.write()
    db.session.commit()
    return written


def _message(
    router: Router,
    phone: str,
    text: str,
    source: str,
    created_at: datetime,
    on_backup: float,
    rng: random.Random,
    **columns,
) -> dict:
    """A message's columns as launch writes them, routed as the router would with both binds up —
    or, for a share of them, through the second option (the failover hours)."""
    options = matching_options(phone, router.options)
    option = options[1] if len(options) > 1 and rng.random() < on_backup else options[0]
    info = analyse(text)
    return dict(
        destination=phone,
        source=source,
        source_ton=5,
        source_npi=0,
        text=text,
        encoding=info.encoding,
        segments=info.segments,
        udh_ref=rng.randrange(256),
        bind_id=option.bind_id,
        route_id=option.route_id,
        price_per_segment=option.price_per_segment,
        currency=option.currency,
        attempts=1,
        event_seq=2,
        created_at=created_at,
        possible_duplicate=False,
        **columns,
    )


def _one_offs(
    batch: _Batch, router: Router, sender: SenderId | None, now: datetime, rng: random.Random
) -> None:
    """Sign-in codes sent one by one (the API's and the CLI's traffic), a few a day."""
    if sender is None:
        return
    phones = db.session.scalars(select(Contact.phone).order_by(Contact.id).limit(80)).all()
    for day in range(7, 0, -1):
        for n in range(ONE_OFFS_PER_DAY):
            at = (now - timedelta(days=day)).replace(
                hour=8 + 2 * n, minute=rng.randrange(60), second=0, microsecond=0
            )
            phone = rng.choice(phones)
            code = rng.randrange(100000, 999999)
            text = f"Your Switchboard Store sign-in code is {code}. It expires in 10 minutes."
            message = _message(
                router, phone, text, sender.value, at, 0.0, rng, priority=KINDS["transactional"],
                purpose=ONE_TIME_CODE,
            )
            smsc_id = format(((int(at.timestamp()) - EPOCH_2024) << 16) + n, "x")
            batch.add(
                message=message,
                outcome=_outcome(phone, rng),
                smsc_ids=[smsc_id],
                sent_at=at + timedelta(seconds=1),
            )
