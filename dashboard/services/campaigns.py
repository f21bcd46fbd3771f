"""Campaigns: create, launch (materialise one message per recipient), follow, complete."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from dashboard.extensions import db
from dashboard.models import Campaign, Contact, ContactList, ListMembership, Message, MessagePart, Route, SenderId
from dashboard.services.outbox import source_addressing
from dashboard.services.routing import Router
from dashboard.services.senders import approval_problems
from dashboard.sms import lifecycle as lc
from dashboard.sms.encoding import analyse

LAUNCH_BATCH = 2000


class CampaignError(ValueError):
    pass


def create_campaign(*, name: str, list_id: int, sender_id_id: int, text: str, scheduled_at: datetime,
                    created_by_id: int | None, now: datetime) -> Campaign:
    if not text.strip():
        raise CampaignError("the message is empty")
    if db.session.get(ContactList, list_id) is None:
        raise CampaignError("no such contact list")
    sender = db.session.get(SenderId, sender_id_id)
    if sender is None:
        raise CampaignError("no such sender ID")
    if sender.status != "approved":
        raise CampaignError(f"sender ID {sender.value} is {sender.status}, not approved")
    problems = approval_problems(sender, list_id)
    if problems:
        raise CampaignError("; ".join(problems))
    campaign = Campaign(name=name.strip(), list_id=list_id, sender_id_id=sender_id_id, text=text,
                        scheduled_at=scheduled_at, status="scheduled", created_by_id=created_by_id,
                        created_at=now)
    db.session.add(campaign)
    db.session.commit()
    return campaign


def launch_due(now: datetime, batch_size: int = LAUNCH_BATCH) -> int:
    """Materialise due campaigns, one batch per campaign per call, so a huge list never sits
    in memory and never holds the database for long. Returns the number of messages created."""
    due = db.session.scalars(select(Campaign).where(
        ((Campaign.status == "scheduled") & (Campaign.scheduled_at <= now)) | (Campaign.status == "launching")
    ).order_by(Campaign.scheduled_at)).all()
    created = 0
    for campaign in due:
        if campaign.status == "scheduled" and not _move(campaign, ("scheduled",), "launching", launched_at=now):
            continue  # paused or cancelled meanwhile
        created += materialise_batch(campaign, now, batch_size)
    return created


def _move(campaign: Campaign, from_states: tuple[str, ...], to_state: str, **values) -> bool:
    """A campaign changes state only from the state it is in now, checked in the UPDATE itself: the
    launcher and a person pressing Pause act at the same moment, and neither may undo the other."""
    result = db.session.execute(update(Campaign).where(Campaign.id == campaign.id, Campaign.status.in_(from_states))
                                .values(status=to_state, **values).execution_options(synchronize_session=False))
    db.session.commit()
    db.session.refresh(campaign)
    return result.rowcount == 1


def materialise_batch(campaign: Campaign, now: datetime, batch_size: int) -> int:
    """One batch of the audience after the cursor. The unique (campaign, contact) constraint makes
    a crash between insert and cursor update harmless: the retry inserts nothing twice (DESIGN #8)."""
    rows = db.session.execute(
        select(Contact.id, Contact.phone)
        .join(ListMembership, ListMembership.contact_id == Contact.id)
        .where(ListMembership.list_id == campaign.list_id, ListMembership.subscribed.is_(True),
               Contact.global_opt_out.is_(False), Contact.id > campaign.launch_cursor)
        .order_by(Contact.id).limit(batch_size)).all()
    if not rows:
        _move(campaign, ("launching",), "running")
        return 0
    info = analyse(campaign.text)
    ton, npi = source_addressing(campaign.sender.kind)
    router = Router()
    values = []
    for contact_id, phone in rows:
        route = router.choose(phone)
        values.append(dict(campaign_id=campaign.id, contact_id=contact_id, destination=phone,
                           source=campaign.sender.value, source_ton=ton, source_npi=npi, text=campaign.text,
                           encoding=info.encoding, segments=info.segments, priority=campaign.priority,
                           status=lc.QUEUED, bind_id=route.bind_id, route_id=route.route_id,
                           price_per_segment=route.price_per_segment, reason=route.reason,
                           udh_ref=contact_id % 256, created_at=now, attempts=0, event_seq=0,
                           possible_duplicate=False))
    insert = (postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert)(Message)
    db.session.execute(insert.on_conflict_do_nothing(index_elements=["campaign_id", "contact_id"]), values)
    # Count this batch's range only (the unique index serves it): a full count per batch would make a
    # million-contact launch quadratic. Rows a crashed attempt inserted were rolled back with its cursor.
    created = db.session.scalar(select(func.count()).select_from(Message).where(
        Message.campaign_id == campaign.id, Message.contact_id > campaign.launch_cursor,
        Message.contact_id <= rows[-1][0]))
    moved = db.session.execute(update(Campaign).where(Campaign.id == campaign.id, Campaign.status == "launching")
                               .values(launch_cursor=rows[-1][0], materialised=Campaign.materialised + created)
                               .execution_options(synchronize_session=False)).rowcount
    if not moved:
        # Paused or cancelled while this batch was built: it must not add messages after a cancel.
        db.session.rollback()
        return 0
    db.session.commit()
    db.session.refresh(campaign)
    return created


def complete_finished(now: datetime) -> int:
    """Running campaigns whose every message reached a final state are completed."""
    running = db.session.scalars(select(Campaign).where(Campaign.status == "running")).all()
    done = 0
    for campaign in running:
        open_count = db.session.scalar(select(func.count()).select_from(Message).where(
            Message.campaign_id == campaign.id, Message.status.not_in(lc.FINAL)))
        if open_count == 0 and _move(campaign, ("running",), "completed", completed_at=now):
            done += 1
    db.session.commit()
    return done


@dataclass(frozen=True)
class EstimateLine:
    route: str  # "prefix → bind", or why there is none
    recipients: int
    price_per_segment: Decimal
    cost: Decimal


@dataclass(frozen=True)
class Estimate:
    audience: int
    suppressed: int
    segments: int
    lines: list[EstimateLine]

    @property
    def recipients(self) -> int:
        return self.audience - self.suppressed

    @property
    def total_cost(self) -> Decimal:
        return sum((line.cost for line in self.lines), Decimal("0"))


def estimate(campaign: Campaign) -> Estimate:
    """Audience after suppression, routed and priced as the sender would today. Streams the list."""
    segments = analyse(campaign.text).segments
    router = Router()
    by_route: Counter[int | None] = Counter()
    audience = suppressed = 0
    rows = db.session.execute(
        select(Contact.phone, ListMembership.subscribed, Contact.global_opt_out)
        .join(ListMembership, ListMembership.contact_id == Contact.id)
        .where(ListMembership.list_id == campaign.list_id).execution_options(yield_per=5000))
    for phone, subscribed, opted_out in rows:
        audience += 1
        if not subscribed or opted_out:
            suppressed += 1
            continue
        by_route[router.choose(phone).route_id] += 1
    routes = {r.id: r for r in db.session.scalars(select(Route).where(Route.id.in_([i for i in by_route if i])))}
    lines = []
    for route_id, recipients in by_route.most_common():
        route = routes.get(route_id)
        price = route.price_per_segment if route else Decimal("0")
        label = f"{route.prefix or '(default)'} → {route.bind.name}" if route else "no price list: any enabled bind"
        lines.append(EstimateLine(label, recipients, price, price * segments * recipients))
    return Estimate(audience=audience, suppressed=suppressed, segments=segments, lines=lines)


def cost_so_far(campaign: Campaign) -> Decimal:
    """What the parts already submitted cost, at the prices recorded when they went (DESIGN #10)."""
    return db.session.scalar(select(func.coalesce(func.sum(MessagePart.price), 0))
                             .join(Message, Message.id == MessagePart.message_id)
                             .where(Message.campaign_id == campaign.id)) or Decimal("0")


HALTED = ("paused", "cancelled")


def halted_campaign_ids():
    """A subquery of campaigns whose messages must not be claimed now."""
    return select(Campaign.id).where(Campaign.status.in_(HALTED)).scalar_subquery()


def pause(campaign: Campaign, now: datetime) -> None:
    if not _move(campaign, ("scheduled", "launching", "running"), "paused"):
        raise CampaignError(f"a {campaign.status} campaign cannot be paused")


def resume(campaign: Campaign, now: datetime) -> None:
    # Launch picks up at its cursor; a fully launched campaign flips back to running at once.
    if not _move(campaign, ("paused",), "launching" if campaign.launched_at else "scheduled"):
        raise CampaignError(f"a {campaign.status} campaign cannot be resumed")


def cancel(campaign: Campaign, now: datetime) -> int:
    """Stop for good. Unsent messages stay, as cancelled, so the report still adds up; what the
    SMSC already has goes on to its receipt."""
    if not _move(campaign, ("scheduled", "launching", "running", "paused"), "cancelled", completed_at=now):
        raise CampaignError(f"a {campaign.status} campaign cannot be cancelled")
    result = db.session.execute(update(Message).where(Message.campaign_id == campaign.id,
                                                      Message.status == lc.QUEUED)
                                .values(status=lc.CANCELLED, reason="campaign cancelled", done_at=now))
    db.session.commit()
    return result.rowcount


@dataclass(frozen=True)
class Progress:
    audience: int
    materialised: int
    queued: int
    submitted: int
    delivered: int
    failed: int
    skipped: int
    cancelled: int
    by_status: dict[str, int]

    @property
    def finished(self) -> int:
        return self.delivered + self.failed + self.skipped + self.cancelled

    @property
    def percent_done(self) -> int:
        total = max(self.audience, self.materialised)
        return int(100 * self.finished / total) if total else 0


def progress(campaign: Campaign) -> Progress:
    counts = dict(db.session.execute(select(Message.status, func.count()).where(
        Message.campaign_id == campaign.id).group_by(Message.status)).all())
    audience = db.session.scalar(select(func.count()).select_from(ListMembership).where(
        ListMembership.list_id == campaign.list_id, ListMembership.subscribed.is_(True))) or 0
    failed = sum(counts.get(s, 0) for s in lc.FAILURES | {lc.PARTIALLY_DELIVERED})
    return Progress(audience=audience, materialised=sum(counts.values()),
                    queued=counts.get(lc.QUEUED, 0) + counts.get(lc.SUBMITTING, 0),
                    submitted=counts.get(lc.SUBMITTED, 0), delivered=counts.get(lc.DELIVERED, 0),
                    failed=failed, skipped=counts.get(lc.SKIPPED, 0), cancelled=counts.get(lc.CANCELLED, 0),
                    by_status=counts)
