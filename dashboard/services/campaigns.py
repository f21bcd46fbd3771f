"""Campaigns: create, launch (materialise one message per recipient), follow, complete."""
from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import func, or_, select, update

from dashboard.extensions import db
from dashboard.models import (
    Campaign,
    Contact,
    ContactList,
    ListMembership,
    Message,
    Route,
    SenderId,
    User,
)
from dashboard.models.campaign import KINDS
from dashboard.services import audit, suppression, traffic
from dashboard.services.bulk import on_conflict_do_nothing
from dashboard.services.message_templates import check_body, render_message
from dashboard.services.routing import Router
from dashboard.services.senders import approval_problems
from dashboard.services.sending import housekeeping
from dashboard.services.sending.enqueue import (
    EnqueueError,
    enqueue,
    insert_unless_present,
    message_values,
)
from dashboard.settings import setting
from dashboard.sms import lifecycle as lc
from dashboard.sms import templating
from dashboard.sms.encoding import SegmentInfo, analyse
from dashboard.sms.money import MoneyTotals, format_money
from dashboard.sms.numbers import InvalidNumber, normalise, time_zones
from dashboard.sms.routing import describe_prefix
from dashboard.sms.send_window import ScheduleError, SendWindow, next_fire, recurrence_trigger, zone
from dashboard.sms.sender_ids import source_addressing
from dashboard.sms.throttle import refill_tokens

LAUNCH_BATCH = 2000
APPROVER_ROLES = ("admin", "ops")


class CampaignError(ValueError):
    pass


@dataclass(frozen=True)
class CampaignSettings:
    """What a campaign's form sets, checked in one place for the web form, the CLI and tests."""
    name: str
    list_id: int
    sender_id_id: int
    text: str
    scheduled_at: datetime  # UTC; for a series, the earliest time it may first fire
    kind: str = "marketing"
    time_zone: str = "UTC"
    recurrence: str | None = None
    window: SendWindow | None = None
    throughput_cap: float | None = None
    budget: Decimal | None = None
    failure_threshold: float | None = None
    failure_window: int = 100
    template_id: int | None = None


def create_campaign(*, name: str, list_id: int, sender_id_id: int, text: str, scheduled_at: datetime,
                    created_by_id: int | None, now: datetime, approval_required: bool = False,
                    draft: bool = False, **options) -> Campaign:
    """A new campaign: a draft, awaiting approval (four eyes), or scheduled at once when approval
    is off. Every setting is checked before anything is written."""
    settings = CampaignSettings(name=name, list_id=list_id, sender_id_id=sender_id_id, text=text,
                                scheduled_at=scheduled_at, **options)
    _check(settings)
    first_run = settings.scheduled_at
    if settings.recurrence:
        first_run = next_fire(settings.recurrence, settings.time_zone, max(settings.scheduled_at, now)
                              - timedelta(microseconds=1))
        if first_run is None:
            raise CampaignError("the schedule never fires")
    status = "draft" if draft else ("awaiting_approval" if approval_required else "scheduled")
    window = settings.window
    campaign = Campaign(name=settings.name.strip(), list_id=list_id, sender_id_id=sender_id_id, text=text,
                        scheduled_at=first_run, status=status, created_by_id=created_by_id, created_at=now,
                        kind=settings.kind, priority=KINDS[settings.kind], time_zone=settings.time_zone,
                        recurrence=settings.recurrence or None,
                        window_start=window.start_minute if window else None,
                        window_end=window.end_minute if window else None,
                        window_days=window.days_column if window else "0123456",
                        throughput_cap=settings.throughput_cap, budget=settings.budget,
                        failure_threshold=settings.failure_threshold, failure_window=settings.failure_window,
                        template_id=settings.template_id, submitted_at=now if status != "draft" else None)
    db.session.add(campaign)
    db.session.flush()
    audit.record("campaign_create", target=campaign, now=now, changes=audit.diff({}, audit.snapshot(campaign, AUDITED)))
    db.session.commit()
    return campaign


# What the audit trail records of a campaign when it is created (limits are recorded as they change).
AUDITED = ("name", "status", "list_id", "sender_id_id", "text", "kind", "scheduled_at", "time_zone", "recurrence",
           "window_start", "window_end", "window_days", "throughput_cap", "budget", "failure_threshold",
           "failure_window", "template_id")
LIMITS = ("throughput_cap", "budget", "failure_threshold")
MAX_BUDGET = Decimal("1e12")
MAX_THROUGHPUT = 100_000.0


def _check(settings: CampaignSettings) -> None:
    if not settings.name.strip():
        raise CampaignError("the campaign needs a name")
    if not settings.text.strip():
        raise CampaignError("the message is empty")
    body = check_body(settings.text)  # the template editor's check: a body that cannot render never launches
    if not body.ok:
        raise CampaignError(f"the message cannot be used: {body.errors[0]}")
    if db.session.get(ContactList, settings.list_id) is None:
        raise CampaignError("no such contact list")
    sender = db.session.get(SenderId, settings.sender_id_id)
    if sender is None:
        raise CampaignError("no such sender ID")
    if sender.status != "approved":
        raise CampaignError(f"sender ID {sender.value} is {sender.status}, not approved")
    problems = approval_problems(sender, settings.list_id)
    if problems:
        raise CampaignError("; ".join(problems))
    if settings.kind not in KINDS:
        raise CampaignError(f"unknown campaign type {settings.kind!r}")
    try:
        zone(settings.time_zone)
        if settings.recurrence:
            recurrence_trigger(settings.recurrence, settings.time_zone)
    except ScheduleError as exc:
        raise CampaignError(str(exc)) from None
    _check_limits(settings.throughput_cap, settings.budget, settings.failure_threshold)
    if settings.failure_window < 10:
        raise CampaignError("judge the failure rate over at least 10 messages")


def _check_limits(throughput_cap: float | None, budget: Decimal | None, failure_threshold: float | None) -> None:
    """Guard rails are finite numbers in range: `1e999` or `nan` typed in a form is refused here,
    not stored as Infinity to break the campaign page later."""
    if throughput_cap is not None and not (math.isfinite(throughput_cap) and 0 < throughput_cap <= MAX_THROUGHPUT):
        raise CampaignError(f"the throughput cap must be above 0 and at most {MAX_THROUGHPUT:,.0f} messages per second")
    if budget is not None and not (Decimal(budget).is_finite() and 0 < budget <= MAX_BUDGET):
        raise CampaignError(f"the budget must be above 0 and at most {MAX_BUDGET:,.0f}")
    if failure_threshold is not None and not (math.isfinite(failure_threshold) and 0 < failure_threshold <= 100):
        raise CampaignError("the failure threshold is a percentage between 0 and 100")


# ----------------------------------------------------------------------------- approval

def submit_for_approval(campaign: Campaign, now: datetime, *, approval_required: bool) -> None:
    """A draft goes to a second pair of eyes, or straight to the schedule when approval is off."""
    target = "awaiting_approval" if approval_required else "scheduled"
    if not _move(campaign, ("draft",), target, submitted_at=now, status_reason=None, audit_action="campaign_submit"):
        raise CampaignError(f"a {_label(campaign.status)} campaign cannot be submitted")


def approve(campaign: Campaign, approver: User, now: datetime, *, test_send_required: bool = False) -> None:
    """Four eyes: anyone with a sending role but the author. The approval is recorded, with who."""
    if approver.role not in APPROVER_ROLES:
        raise CampaignError("only admin and ops users approve campaigns")
    if campaign.created_by_id == approver.id:
        raise CampaignError("you created this campaign: another user must approve it")
    if test_send_required and campaign.test_sent_at is None:
        raise CampaignError("send a test message before approving: it is required here")
    # A campaign returned to approval after it launched (its limits changed) goes on from its cursor.
    target = "launching" if campaign.launched_at and not campaign.recurrence else "scheduled"
    if not _move(campaign, ("awaiting_approval",), target, approved_by_id=approver.id, approved_at=now,
                 status_reason=None, audit_action="campaign_approve"):
        raise CampaignError(f"a {_label(campaign.status)} campaign cannot be approved")


def reject(campaign: Campaign, reviewer: User, now: datetime, note: str) -> None:
    if not note.strip():
        raise CampaignError("say what must change")
    if not _move(campaign, ("awaiting_approval",), "draft", status_reason=f"returned by {reviewer.email}: {note.strip()}",
                 audit_action="campaign_reject"):
        raise CampaignError(f"a {_label(campaign.status)} campaign cannot be returned")


def _label(status: str) -> str:
    return status.replace("_", " ")


# ----------------------------------------------------------------------------- launch

def launch_due(now: datetime, batch_size: int = LAUNCH_BATCH, budget_seconds: float = 0.5) -> int:
    """Materialise due campaigns in batches, each its own short transaction, so a huge list never
    sits in memory and the write lock is released every batch; batches go on for `budget_seconds`
    per call (the job runs every second). Returns the number of messages created."""
    deadline = time.monotonic() + budget_seconds
    start_due_occurrences(now)
    created = launch_round(now, batch_size)
    while created and time.monotonic() < deadline:
        more = launch_round(now, batch_size)
        if not more:
            break
        created += more
    return created


def launch_round(now: datetime, batch_size: int = LAUNCH_BATCH) -> int:
    """One batch for each due campaign (recurring series are turned into occurrences by launch_due)."""
    due = db.session.scalars(select(Campaign).where(
        ((Campaign.status == "scheduled") & (Campaign.scheduled_at <= now) & Campaign.recurrence.is_(None))
        | (Campaign.status == "launching")
    ).order_by(Campaign.priority, Campaign.scheduled_at)).all()
    created = 0
    for campaign in due:
        if campaign.status == "scheduled":
            # Registrations can be withdrawn between approval and launch: check again, and hold if so.
            problems = approval_problems(campaign.sender, campaign.list_id)
            if problems:
                _move(campaign, ("scheduled",), "paused", status_reason="; ".join(problems), audit_action="campaign_pause")
                continue
            if not _move(campaign, ("scheduled",), "launching", launched_at=now, audit_action="campaign_launch"):
                continue  # paused or cancelled meanwhile
        created += materialise_batch(campaign, now, batch_size)
    return created


def start_due_occurrences(now: datetime) -> int:
    """Each due fire time of a recurring series becomes one occurrence campaign. The unique
    (series, fire time) pair makes it once, however many launchers race or restart. Fire times
    missed while no worker ran are not all replayed: the latest one is launched and the rest are
    named in its status."""
    series_list = db.session.scalars(select(Campaign).where(
        Campaign.status == "scheduled", Campaign.recurrence.is_not(None), Campaign.scheduled_at <= now)).all()
    started = 0
    for series in series_list:
        fire, missed = series.scheduled_at, 0
        following = next_fire(series.recurrence, series.time_zone, fire)
        while following is not None and following <= now:
            fire, missed = following, missed + 1
            following = next_fire(series.recurrence, series.time_zone, fire)
        local = fire.astimezone(zone(series.time_zone))
        values = dict(
            name=f"{series.name} · {local:%Y-%m-%d %H:%M %Z}", list_id=series.list_id,
            sender_id_id=series.sender_id_id, text=series.text, scheduled_at=fire, status="scheduled",
            kind=series.kind, priority=series.priority, time_zone=series.time_zone, series_id=series.id,
            window_start=series.window_start, window_end=series.window_end, window_days=series.window_days,
            throughput_cap=series.throughput_cap, budget=series.budget, failure_threshold=series.failure_threshold,
            failure_window=series.failure_window, created_by_id=series.created_by_id, created_at=now,
            approved_by_id=series.approved_by_id, approved_at=series.approved_at, submitted_at=series.submitted_at,
            launch_cursor=0, materialised=0, cap_tokens=0.0, committed_cost=Decimal("0"),
            status_reason=f"{missed} earlier fire time(s) missed while no worker ran" if missed else None)
        # RETURNING, not rowcount: psycopg reports -1 for an INSERT … ON CONFLICT through the session.
        started += len(db.session.execute(on_conflict_do_nothing(Campaign.__table__, "series_id", "scheduled_at")
                                          .values(**values).returning(Campaign.id)).all())
        # The series moves to its next fire time only from where it was: a pause pressed meanwhile stays.
        db.session.execute(update(Campaign).where(Campaign.id == series.id, Campaign.status == "scheduled",
                                                  Campaign.scheduled_at == series.scheduled_at)
                           .values(scheduled_at=following or series.scheduled_at,
                                   status="scheduled" if following else "completed",
                                   completed_at=None if following else now)
                           .execution_options(synchronize_session=False))
        db.session.commit()
    return started


def _transition(campaign_id: int, from_states: tuple[str, ...], to_state: str, *, before: str | None = None,
                audit_action: str | None = None, **values) -> bool:
    """A campaign changes state only from the state it is in now, checked in the UPDATE itself: the
    launcher, the sender and a person pressing Pause act at the same moment, and none may undo
    another. The one place a campaign's state is written; the caller commits. With
    `audit_action`, the move is written to the audit trail in the same transaction."""
    result = db.session.execute(update(Campaign).where(Campaign.id == campaign_id, Campaign.status.in_(from_states))
                                .values(status=to_state, **values).execution_options(synchronize_session=False))
    moved = result.rowcount == 1
    if moved and audit_action:
        audit.record(audit_action, target_type="campaign", target_id=campaign_id,
                     changes={"status": [before, to_state]}, detail=values.get("status_reason") or "")
    return moved


def _move(campaign: Campaign, from_states: tuple[str, ...], to_state: str, audit_action: str | None = None,
          **values) -> bool:
    """_transition, committed, and `campaign` refreshed."""
    moved = _transition(campaign.id, from_states, to_state, before=campaign.status, audit_action=audit_action,
                        **values)
    db.session.commit()
    db.session.refresh(campaign)
    return moved


def materialise_batch(campaign: Campaign, now: datetime, batch_size: int) -> int:
    """One batch of the audience after the cursor. The unique (campaign, contact) constraint makes
    a crash between insert and cursor update harmless: the retry inserts nothing twice
    (docs/architecture.md #8)."""
    rows = db.session.execute(
        select(Contact.id, Contact.phone, Contact.time_zone, Contact.name, Contact.fields, Contact.country)
        .join(ListMembership, ListMembership.contact_id == Contact.id)
        .where(*suppression.audience(campaign.list_id), ListMembership.contact_id > campaign.launch_cursor)
        # Ordered by the membership's (list_id, contact_id) index, so each batch reads from the cursor
        # and stops at the limit instead of sorting the rest of the list every time.
        .order_by(ListMembership.contact_id).limit(batch_size)).all()
    if not rows:
        _move(campaign, ("launching",), "running")
        return 0
    texts = RecipientTexts(campaign)
    ton, npi = source_addressing(campaign.sender.kind)
    window = SendWindow.from_columns(campaign.window_start, campaign.window_end, campaign.window_days)
    router = Router()
    values = []
    for contact_id, phone, contact_zone, name, fields, country in rows:
        route = router.choose(phone)
        zones: tuple[str, ...] = ()
        row = message_values(destination=phone, text=campaign.text, info=texts.analysis(campaign.text),
                             source=campaign.sender.value, ton=ton, npi=npi, route=route, priority=campaign.priority,
                             now=now, campaign_id=campaign.id, contact_id=contact_id, udh_ref=contact_id % 256)
        try:
            row["text"] = texts.text(name=name, phone=phone, fields=fields, country=country)
            info = texts.analysis(row["text"])
            row.update(encoding=info.encoding, segments=info.segments)
        except templating.TemplateError as exc:
            # One contact's data must not stop the campaign; it is skipped, visibly, with the reason.
            row.update(status=lc.SKIPPED, done_at=now, reason=f"message cannot be rendered: {exc}")
        if window is not None:
            zones = (contact_zone,) if contact_zone else time_zones(phone)
            wait = window.wait(now, zones, campaign.time_zone)
            if wait is not None and row["status"] == lc.QUEUED:
                # Outside quiet hours now: queued for the opening, never dropped.
                row["next_attempt_at"], row["reason"] = wait
        values.append({**row, "recipient_tz": ",".join(zones) or None})
    insert_unless_present(values)
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
    """Running campaigns whose every message reached a final state are completed. Messages of a
    cancelled campaign that came back to the queue after the cancel (a claim released unsent, a
    retry) are cancelled too, so none waits forever."""
    cancelled = db.session.scalars(select(Campaign.id).where(
        Campaign.status == "cancelled", Campaign.completed_at >= now - timedelta(days=1))).all()
    housekeeping.cancel_queued(cancelled, "campaign cancelled", now)
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
    currency: str | None = None


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
    def total_cost(self) -> MoneyTotals:
        return MoneyTotals((line.currency, line.cost) for line in self.lines)


def estimate(campaign: Campaign) -> Estimate:
    """Audience after suppression, each message rendered, routed and priced as the sender would
    today (the dry run, summed). Streams the list."""
    audience = suppressed = 0
    parts_seen: Counter[int] = Counter()
    by_route: dict[str, list] = {}
    for row in dry_run(campaign):
        audience += 1
        if row.skipped:
            suppressed += 1
            continue
        parts_seen[row.parts] += 1
        line = by_route.setdefault(row.route,
                                   [0, row.price_per_segment, Decimal("0"), row.currency])
        line[0] += 1
        line[2] += row.cost
    lines = [EstimateLine(route, n, price, cost, currency)
             for route, (n, price, cost, currency)
             in sorted(by_route.items(), key=lambda item: -item[1][0])]
    segments = parts_seen.most_common(1)[0][0] if parts_seen else analyse(campaign.text).segments
    return Estimate(audience=audience, suppressed=suppressed, segments=segments, lines=lines)


def cost_so_far(campaign: Campaign) -> MoneyTotals:
    """What the parts already submitted cost, by currency, at the prices recorded when they went
    (docs/architecture.md #10), as of the last rollup run (every 5 s): read from the campaign's
    rollups, not by joining its parts, which took 100+ ms per page view of a 40,000-message
    campaign on PostgreSQL (docs/performance.md)."""
    return traffic.spend(traffic.Scope("campaign", campaign.id))


# ----------------------------------------------------------------------------- what the sender asks
# The sender's claim (dashboard.services.sending.claim) asks these; nothing but this module writes a
# Campaign row.

HALTED = ("paused", "cancelled", "awaiting_approval")  # awaiting: back to approval after a change
SENDING = ("launching", "running")


def halted_campaign_ids():
    """A subquery of campaigns whose messages must not be claimed now."""
    return select(Campaign.id).where(Campaign.status.in_(HALTED)).scalar_subquery()


def separately_claimed_campaign_ids():
    """Campaigns the sender's main claim leaves alone: halted ones, and those with a throughput cap
    or a budget, which are claimed one by one within their allowance (claim_within_allowances)."""
    return select(Campaign.id).where(or_(Campaign.status.in_(HALTED), Campaign.throughput_cap.is_not(None),
                                         Campaign.budget.is_not(None))).scalar_subquery()


@dataclass(frozen=True)
class Candidate:
    """A queued message of a metered campaign, as the claim offers it."""
    message_id: int
    segments: int
    price_per_segment: Decimal | None
    attempts: int


def claim_within_allowances(room: int, now: datetime, *, due: Callable[[int, int], Sequence[Candidate]],
                            take: Callable[[list[int]], list]) -> list:
    """Claim for campaigns with a throughput cap or a budget, within what each may send now:
    `due(campaign_id, limit)` offers a campaign's next queued messages, `take(ids)` claims them.

    The allowance lives in the campaign row (a token bucket and the cost committed so far), read
    under a row lock in the claim's transaction, so the cap and the budget hold across every bind
    and every worker, on SQLite and PostgreSQL alike. A campaign whose next message would pass its
    budget pauses itself, saying why; nothing is dropped. The caller commits.
    """
    metered = db.session.scalars(
        select(Campaign).where(Campaign.status.in_(SENDING),
                               or_(Campaign.throughput_cap.is_not(None), Campaign.budget.is_not(None)))
        .order_by(Campaign.priority, Campaign.id).with_for_update()
        .execution_options(populate_existing=True)).all()
    claimed: list = []
    for campaign in metered:
        if room - len(claimed) <= 0:
            break
        allowance = room - len(claimed)
        if campaign.throughput_cap is not None:
            campaign.cap_tokens = refill_tokens(campaign.cap_tokens, campaign.cap_refilled_at, now,
                                                campaign.throughput_cap)
            campaign.cap_refilled_at = now
            allowance = min(allowance, int(campaign.cap_tokens))
        if allowance <= 0:
            continue
        chosen, cost, over_budget = [], Decimal("0"), False
        for candidate in due(campaign.id, allowance):
            # A message is paid for once, at its first claim; a retry does not spend the budget again.
            extra = ((candidate.price_per_segment or Decimal("0")) * candidate.segments
                     if candidate.attempts == 0 else Decimal("0"))
            if campaign.budget is not None and campaign.committed_cost + cost + extra > campaign.budget:
                over_budget = True
                break
            chosen.append(candidate.message_id)
            cost += extra
        rows = take(chosen) if chosen else []
        claimed += rows
        if campaign.throughput_cap is not None:
            campaign.cap_tokens -= len(rows)
        campaign.committed_cost += cost
        if over_budget and not rows:
            _transition(campaign.id, SENDING, "paused", before=campaign.status, audit_action="campaign_pause",
                        status_reason=f"budget reached: {campaign.committed_cost:.4f} of {campaign.budget:.4f} "
                                      f"committed; raise the budget to go on")
    return claimed


def release_commitment(campaign_id: int, amount: Decimal) -> None:
    """A claimed message was put back unsent and unpaid (quiet hours): its cost is no longer
    committed against the campaign's budget. The caller commits."""
    db.session.execute(update(Campaign).where(Campaign.id == campaign_id, Campaign.budget.is_not(None))
                       .values(committed_cost=Campaign.committed_cost - amount)
                       .execution_options(synchronize_session=False))


def quiet_hours_waits(messages: Iterable[tuple[int, int | None, str | None]],
                      now: datetime) -> dict[int, tuple[datetime, str]]:
    """Of these messages (id, campaign id, recipient's zones as stored), those whose recipient is
    in the campaign's quiet hours now: until when they wait, and why (SendWindow.wait, the rule
    launch applies too)."""
    messages = [m for m in messages if m[1] is not None]
    if not messages:
        return {}
    windows = {row.id: (SendWindow.from_columns(row.window_start, row.window_end, row.window_days), row.time_zone)
               for row in db.session.execute(
                   select(Campaign.id, Campaign.window_start, Campaign.window_end, Campaign.window_days,
                          Campaign.time_zone)
                   .where(Campaign.id.in_({m[1] for m in messages}), Campaign.window_start.is_not(None)))}
    waits = {}
    for message_id, campaign_id, recipient_tz in messages:
        if campaign_id in windows:
            window, campaign_zone = windows[campaign_id]
            wait = window.wait(now, tuple(z for z in (recipient_tz or "").split(",") if z), campaign_zone)
            if wait is not None:
                waits[message_id] = wait
    return waits


def pause(campaign: Campaign, now: datetime, reason: str | None = None) -> None:
    if not _move(campaign, ("scheduled", "launching", "running"), "paused", status_reason=reason,
                 audit_action="campaign_pause"):
        raise CampaignError(f"a {_label(campaign.status)} campaign cannot be paused")


def pause_spending_in(currency: str, reason: str) -> list[int]:
    """Sending campaigns with queued messages priced in `currency` pause, saying why: the monthly
    budget of that currency is reached (dashboard/services/budgets.py owns that rule). Their
    messages stay queued. The caller commits."""
    waiting = (select(Message.id).where(Message.campaign_id == Campaign.id, Message.status == lc.QUEUED,
                                        Message.currency == currency).exists())
    paused = []
    for campaign_id, status in db.session.execute(select(Campaign.id, Campaign.status).where(
            Campaign.status.in_(SENDING), waiting)).all():
        if _transition(campaign_id, SENDING, "paused", before=status, audit_action="campaign_pause",
                       status_reason=reason):
            paused.append(campaign_id)
    return paused


def resume(campaign: Campaign, now: datetime) -> None:
    if campaign.budget is not None and campaign.status == "paused" and _next_message_over_budget(campaign):
        raise CampaignError(f"the budget of {_budget_money(campaign.budget)} is spent: "
                            "raise it before resuming")
    # Launch picks up at its cursor; a fully launched campaign flips back to running at once. The
    # failure-rate guard starts counting afresh, or it would pause again at once on the same figures.
    if not _move(campaign, ("paused",), "launching" if campaign.launched_at else "scheduled",
                 status_reason=None, guard_since=now, audit_action="campaign_resume"):
        raise CampaignError(f"a {_label(campaign.status)} campaign cannot be resumed")


def _budget_money(amount: Decimal) -> str:
    # Budgets are read in the installation's default currency (docs/campaigns.md).
    return format_money(amount, setting("DEFAULT_CURRENCY"))


def _next_message_over_budget(campaign: Campaign) -> bool:
    row = db.session.execute(select(Message.segments, Message.price_per_segment).where(
        Message.campaign_id == campaign.id, Message.status == lc.QUEUED, Message.attempts == 0)
        .order_by(Message.priority, Message.id).limit(1)).first()
    if row is None:
        return False
    return campaign.committed_cost + (row.price_per_segment or 0) * row.segments > campaign.budget


def set_limits(campaign: Campaign, *, throughput_cap: float | None, budget: Decimal | None,
               failure_threshold: float | None, approval_required: bool = False) -> None:
    """Change a campaign's guard rails (e.g. raise the budget that paused it). With four eyes on,
    a change to an approved campaign returns it to approval: it sends nothing more until another
    user approves the new limits (the author alone must not lift a budget someone approved)."""
    if campaign.status in ("completed", "cancelled"):
        raise CampaignError(f"a {campaign.status} campaign has no limits to change")
    _check_limits(throughput_cap, budget, failure_threshold)
    if budget is not None and budget < campaign.committed_cost:
        raise CampaignError(f"{_budget_money(budget)} is below the "
                            f"{_budget_money(campaign.committed_cost)} already committed")
    changes = audit.diff(audit.snapshot(campaign, LIMITS), {"throughput_cap": throughput_cap, "budget": budget,
                                                            "failure_threshold": failure_threshold})
    if not changes:
        return
    values = dict(throughput_cap=throughput_cap, budget=budget, failure_threshold=failure_threshold)
    if approval_required and campaign.approved_by_id is not None:
        values |= dict(status="awaiting_approval", approved_by_id=None, approved_at=None,
                       status_reason="limits changed after approval: approve them again")
        changes["status"] = [campaign.status, "awaiting_approval"]
    moved = db.session.execute(update(Campaign).where(Campaign.id == campaign.id, Campaign.status == campaign.status)
                               .values(**values).execution_options(synchronize_session=False)).rowcount
    if not moved:
        db.session.rollback()
        raise CampaignError("the campaign changed state meanwhile: reload and try again")
    audit.record("campaign_limits", target=campaign, changes=changes)
    db.session.commit()
    db.session.refresh(campaign)


def cancel(campaign: Campaign, now: datetime) -> int:
    """Stop for good. Unsent messages stay, as cancelled, so the report still adds up; what the
    SMSC already has goes on to its receipt. A draft or an unapproved campaign just closes."""
    if not _move(campaign, ("draft", "awaiting_approval", "scheduled", "launching", "running", "paused"),
                 "cancelled", completed_at=now, audit_action="campaign_cancel"):
        raise CampaignError(f"a {_label(campaign.status)} campaign cannot be cancelled")
    cancelled = housekeeping.cancel_queued([campaign.id], "campaign cancelled", now)
    db.session.commit()
    return cancelled


# ----------------------------------------------------------------------------- guard rails

# Messages with an outcome the guard can judge: accepted by the SMSC, delivered, or failed.
JUDGED_OUTCOMES = tuple(lc.OUTCOMES | {lc.SUBMITTED})


def failure_rate(campaign: Campaign) -> tuple[int, int]:
    """(failed, judged) over the campaign's last `failure_window` messages with an outcome
    (accepted, delivered or failed) since it last started or resumed."""
    recent = (select(Message.status).where(Message.campaign_id == campaign.id,
                                           Message.status.in_(JUDGED_OUTCOMES))
              .order_by(Message.submitting_at.desc(), Message.id.desc()).limit(campaign.failure_window))
    if campaign.guard_since is not None:
        recent = recent.where(Message.submitting_at >= campaign.guard_since)
    statuses = db.session.scalars(recent).all()
    return sum(1 for s in statuses if s in lc.FAILED_OUTCOMES), len(statuses)


def enforce_failure_rates(now: datetime) -> list[int]:
    """Pause (never drop) running campaigns whose recent failure rate crossed their threshold."""
    paused = []
    for campaign in db.session.scalars(select(Campaign).where(Campaign.status.in_(("launching", "running")),
                                                              Campaign.failure_threshold.is_not(None))).all():
        failed, judged = failure_rate(campaign)
        if judged < campaign.failure_window:
            continue  # too few outcomes yet to judge fairly
        rate = 100.0 * failed / judged
        if rate >= campaign.failure_threshold:
            reason = (f"failure rate {rate:.0f}% over the last {judged} messages reached the "
                      f"{campaign.failure_threshold:g}% threshold")
            if _move(campaign, ("launching", "running"), "paused", status_reason=reason, audit_action="campaign_pause"):
                paused.append(campaign.id)
    return paused


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
    throughput: float = 0.0  # messages claimed per second over the last THROUGHPUT_SECONDS
    failures_by_reason: list[tuple[str, int]] = field(default_factory=list)
    deferred: int = 0  # queued but waiting (quiet hours, retry back-off)

    @property
    def finished(self) -> int:
        return self.delivered + self.failed + self.skipped + self.cancelled

    @property
    def percent_done(self) -> int:
        total = max(self.audience, self.materialised)
        return int(100 * self.finished / total) if total else 0

    @property
    def delivery_rate(self) -> float | None:
        """Delivered of those with a final answer from the network, in percent."""
        judged = self.delivered + self.failed
        return 100.0 * self.delivered / judged if judged else None

    @property
    def eta_seconds(self) -> float | None:
        remaining = max(self.audience - self.materialised, 0) + self.queued
        if not remaining or self.throughput <= 0:
            return None
        return remaining / self.throughput


THROUGHPUT_SECONDS = 10


def progress(campaign: Campaign, now: datetime | None = None) -> Progress:
    now = now or datetime.now(timezone.utc)
    counts = dict(db.session.execute(select(Message.status, func.count()).where(
        Message.campaign_id == campaign.id).group_by(Message.status)).all())
    audience = db.session.scalar(select(func.count()).select_from(ListMembership).where(
        ListMembership.list_id == campaign.list_id, ListMembership.subscribed.is_(True))) or 0
    failed = sum(counts.get(s, 0) for s in lc.FAILED_OUTCOMES)
    recent = db.session.scalar(select(func.count()).select_from(Message).where(
        Message.campaign_id == campaign.id, Message.submitting_at >= now - timedelta(seconds=THROUGHPUT_SECONDS)))
    deferred = db.session.scalar(select(func.count()).select_from(Message).where(
        Message.campaign_id == campaign.id, Message.status == lc.QUEUED, Message.next_attempt_at > now))
    reasons = db.session.execute(
        select(func.coalesce(Message.error_name, Message.status), func.count())
        .where(Message.campaign_id == campaign.id, Message.status.in_(lc.FAILED_OUTCOMES))
        .group_by(func.coalesce(Message.error_name, Message.status)).order_by(func.count().desc()).limit(6)).all()
    return Progress(audience=audience, materialised=sum(counts.values()),
                    queued=counts.get(lc.QUEUED, 0) + counts.get(lc.SUBMITTING, 0),
                    submitted=counts.get(lc.SUBMITTED, 0), delivered=counts.get(lc.DELIVERED, 0),
                    failed=failed, skipped=counts.get(lc.SKIPPED, 0), cancelled=counts.get(lc.CANCELLED, 0),
                    by_status=counts, throughput=recent / THROUGHPUT_SECONDS,
                    failures_by_reason=[(reason, n) for reason, n in reasons], deferred=deferred or 0)


# ----------------------------------------------------------------------------- dry run and test send

@dataclass(frozen=True)
class DryRunRow:
    phone: str
    name: str
    route: str
    parts: int
    price_per_segment: Decimal
    cost: Decimal
    skipped: str | None  # why this recipient would not get the message
    currency: str | None = None  # of price_per_segment and cost: the route's


def dry_run(campaign: Campaign) -> Iterator[DryRunRow]:
    """Route and price every recipient as launch would, without sending or writing anything.
    Streams the list, so it works for a million recipients (as a CSV download); the stream is
    closed when the caller stops early (a download cut off)."""
    brand = campaign.sender.brand
    with closing(suppression.list_recipients(campaign.list_id, brand)) as recipients:
        yield from _dry_run_rows(campaign, recipients, brand)


def _dry_run_rows(campaign: Campaign, recipients, brand: str | None) -> Iterator[DryRunRow]:
    router = Router()
    texts = RecipientTexts(campaign)
    route_labels: dict[int | None, str] = {}
    for phone, name, fields, country, rank in recipients:
        if rank is not None:
            yield DryRunRow(phone, name, "", 0, Decimal("0"), Decimal("0"), suppression.reason(rank, brand))
            continue
        try:
            text = texts.text(name=name, phone=phone, fields=fields, country=country)
        except templating.TemplateError as exc:
            yield DryRunRow(phone, name, "", 0, Decimal("0"), Decimal("0"), f"message cannot be rendered: {exc}")
            continue
        parts = texts.analysis(text).segments
        route = router.choose(phone)
        if route.bind_id is None:
            yield DryRunRow(phone, name, "", parts, Decimal("0"), Decimal("0"), route.reason or "no route")
            continue
        if route.route_id not in route_labels:
            found = db.session.get(Route, route.route_id) if route.route_id else None
            route_labels[route.route_id] = (f"{describe_prefix(found.prefix)} → {found.bind.name}"
                                            if found
                                            else "no price list: any enabled bind")
        price = route.price_per_segment or Decimal("0")
        yield DryRunRow(phone, name, route_labels[route.route_id], parts, price, price * parts,
                        None, route.currency)


def samples(campaign: Campaign, count: int) -> list[tuple[str, str]]:
    """The first recipients' numbers and rendered messages, for the approver to read."""
    rows = db.session.execute(
        select(Contact.phone, Contact.name, Contact.fields, Contact.country)
        .join(ListMembership, ListMembership.contact_id == Contact.id)
        .where(*suppression.audience(campaign.list_id))
        .order_by(ListMembership.contact_id).limit(count)).all()
    result = []
    for phone, name, fields, country in rows:
        try:
            result.append((phone, message_text(campaign, name=name, phone=phone, fields=fields, country=country)))
        except templating.TemplateError as exc:
            result.append((phone, f"(cannot be rendered: {exc})"))
    return result


class RecipientTexts:
    """Each recipient's text as launch sends it, and its encoding analysis, for a whole audience.
    A body without placeholders renders to itself, so only the footer, decided by country, varies:
    it is rendered once per country. Each distinct text is analysed once."""

    def __init__(self, campaign: Campaign) -> None:
        self.campaign = campaign
        self._plain = "{" not in campaign.text
        self._by_country: dict[str | None, str] = {}
        self._analyses: dict[str, SegmentInfo] = {}

    def text(self, *, name: str, phone: str, fields: dict | None, country: str | None) -> str:
        """Raises TemplateError, as message_text does."""
        if self._plain and country in self._by_country:
            return self._by_country[country]
        text = message_text(self.campaign, name=name, phone=phone, fields=fields, country=country)
        if self._plain:
            self._by_country[country] = text
        return text

    def analysis(self, text: str) -> SegmentInfo:
        if text not in self._analyses:
            self._analyses[text] = analyse(text)
        return self._analyses[text]


def message_text(campaign: Campaign, *, name: str, phone: str, fields: dict | None,
                 country: str | None = None) -> str:
    """The text one recipient gets: the body rendered for them in the sandbox, with the opt-out
    footer where their country and the campaign's type require it. Raises TemplateError."""
    return render_message(campaign.text, templating.contact_context(name, phone, fields), kind=campaign.kind,
                          country=country)


def test_send(campaign: Campaign, destination: str, user: User, now: datetime, default_region: str = "US") -> Message:
    """Send the campaign's message to one number now, at the front of the queue, through the real
    sender (consent still applies). Recorded on the campaign: approval can require it."""
    contact = db.session.scalar(select(Contact).where(Contact.phone == _normalised(destination, default_region)))
    try:
        text = message_text(campaign, name=contact.name if contact else "", phone=destination,
                            fields=contact.fields if contact else {}, country=contact.country if contact else None)
    except templating.TemplateError as exc:
        raise CampaignError(f"the message cannot be rendered: {exc}") from None
    try:
        [message] = enqueue(destinations=[destination], text=text, source=campaign.sender.value, now=now,
                            default_region=default_region, priority=KINDS["transactional"])
    except EnqueueError as exc:
        raise CampaignError(str(exc)) from None
    db.session.execute(update(Campaign).where(Campaign.id == campaign.id).values(
        test_sent_at=now, test_sent_to=message.destination, test_message_id=message.id)
        .execution_options(synchronize_session=False))
    audit.record("campaign_test_send", target=campaign, now=now, detail=f"test message {message.id}")
    db.session.commit()
    db.session.refresh(campaign)
    return message


def _normalised(raw: str, region: str) -> str:
    try:
        return normalise(raw, region)
    except InvalidNumber as exc:
        raise CampaignError(f"{raw}: {exc}") from None
