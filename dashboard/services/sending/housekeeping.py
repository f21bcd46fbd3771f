"""Phase four: the periodic work that keeps the queue honest. Each function is one scheduler job
(dashboard.worker.scheduler.JOBS) or a campaign's request:

  reap_expired_claims      messages whose owner died go back to the queue; parts that may have
                           left are retried under the possible-duplicate mark (docs/architecture.md #1, #2)
  release_bind_claims      the same at once for one bind, when a worker takes it over
  reconcile_held_receipts  receipts that came before their response are matched once it is recorded (#3)
  reroute_queued           failover: queued traffic moves off an unhealthy bind and back when it recovers
  cancel_queued            a cancelled campaign's queued messages end as cancelled, never waiting forever
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, func, select, union_all, update

from dashboard.models import DeliveryReceipt
from dashboard.models.types import unindexed
from dashboard.services.routing import Router
from dashboard.services.sending.record import apply_receipt, match_parts, settle
from dashboard.services.sending.rows import (
    RECEIPT_COLUMNS,
    BindSettings,
    M,
    R,
    Row,
    Working,
    commit,
    conn,
    requeue,
)
from dashboard.sms import lifecycle as lc


def reap_expired_claims(now: datetime) -> int:
    """Return messages whose owner died to the queue. Parts that may have been written are
    uncertain: they are retried under the possible-duplicate mark, never silently (#1)."""
    work = Working()
    stale = work.load_messages(and_(M.c.status == lc.SUBMITTING, M.c.claim_expires_at < now))
    for message in stale:
        uncertain = [p for p in message.parts if p.status == lc.SUBMITTING]
        for part in uncertain:
            part.status = lc.PENDING
        if uncertain:
            message.possible_duplicate = True
        requeue(message, now, f"claim by {message.claimed_by} expired"
                + (f"; {len(uncertain)} part(s) may have been sent" if uncertain else ""), None)
    work.write()
    commit()
    return len(stale)


def release_worker_claims(worker_id: str, now: datetime) -> int:
    """On a clean shutdown or a restart of the same worker: its claims are known dead now."""
    conn().execute(update(M).where(M.c.claimed_by == worker_id, M.c.status == lc.SUBMITTING)
                   .values(claim_expires_at=now - timedelta(seconds=1)))
    commit()
    return reap_expired_claims(now)


def release_bind_claims(bind_id: int, new_owner: str, now: datetime) -> int:
    """A worker took over a bind whose lease expired: what the previous holder had claimed on it
    goes back to the queue now, not when each claim's own lease runs out, and parts it may have
    written are retried under the possible-duplicate mark (#1; docs/scaling.md, "Takeover")."""
    conn().execute(update(M).where(M.c.bind_id == bind_id, M.c.status == lc.SUBMITTING,
                                   M.c.claimed_by != new_owner)
                   .values(claim_expires_at=now - timedelta(seconds=1)))
    commit()
    return reap_expired_claims(now)


def reconcile_held_receipts(now: datetime, hold: timedelta, settings_for: Callable[[int], BindSettings]) -> int:
    """Match held receipts whose part has since been recorded (e.g. by another transaction)."""
    work = Working()
    held = Row.all_from(conn().execute(select(*RECEIPT_COLUMNS).where(
        R.c.part_id.is_(None), R.c.received_at >= now - hold)))
    work.receipts.extend(held)
    by_bind: dict[int, list[Row]] = {}
    for row in held:
        by_bind.setdefault(row.bind_id, []).append(row)
    matched = 0
    for bind_id, rows in by_bind.items():
        parts = match_parts(settings_for(bind_id), rows, work)
        for row in rows:
            part = parts.get(row.id_key)
            if part is not None:
                apply_receipt(row, part, work.messages[part.message_id], now)
                matched += 1
    for message in work.messages.values():
        if message.status not in lc.FINAL:
            settle(message, settings_for(message.bind_id), now, 2.0)
    work.write()
    commit()
    return matched


def unmatched_receipts(bind_id: int, now: datetime, hold: timedelta) -> int:
    """Receipts of this bind still held, matching no part yet."""
    return conn().scalar(select(func.count()).select_from(DeliveryReceipt).where(
        DeliveryReceipt.bind_id == bind_id, DeliveryReceipt.part_id.is_(None),
        DeliveryReceipt.received_at >= now - hold))


def cancel_queued(campaign_ids: Sequence[int], reason: str, now: datetime) -> int:
    """The queued messages of these campaigns end as cancelled, with the reason; what the SMSC has
    already goes on to its receipt. The caller commits. Returns how many were cancelled."""
    if not campaign_ids:
        return 0
    # The status without its index: the campaign index finds the rows, the claim index would walk the queue.
    return conn().execute(update(M).where(M.c.campaign_id.in_(list(campaign_ids)), unindexed(M.c.status) == lc.QUEUED)
                          .values(status=lc.CANCELLED, reason=reason, done_at=now)).rowcount


@dataclass(frozen=True)
class ReroutePass:
    """Where failover stands between two runs of `reroute_queued`: the healthy binds it saw, and
    how far through the queue the current pass has gone. A pass reads the queue in pages by id,
    so a page of messages that cannot move (no healthy option) never hides the rest."""
    healthy: frozenset[int]
    after_id: int = 0
    returning_to: frozenset[int] = frozenset()  # binds that came back: traffic elsewhere may return to them


def reroute_queued(now: datetime, state: ReroutePass | None, batch: int = 2000) -> tuple[int, ReroutePass]:
    """Failover: queued messages on an unhealthy bind move to the best healthy option; when a
    bind recovers (the healthy set grew) queued traffic on other binds returns to its preferred
    route, over as many runs as the queue needs. Which bind is best is the router's rule
    (dashboard.services.routing). Returns the messages moved and the state for the next run."""
    router = Router(now)
    healthy = frozenset(router.healthy_ids)
    if state is None:
        state = ReroutePass(healthy)
    elif healthy - state.healthy:
        # From the start of the queue; a pass under way for other binds is folded in.
        state = ReroutePass(healthy, returning_to=(healthy - state.healthy) | state.returning_to)
    returning = state.returning_to & healthy

    def queued(where):
        return select(M.c.id, M.c.destination, M.c.bind_id).where(M.c.status == lc.QUEUED, M.c.id > state.after_id,
                                                                    where)

    if returning:
        # Only messages away from a returning bind can prefer it; those already on it stay.
        query = queued(M.c.bind_id.is_(None) | M.c.bind_id.not_in(returning))
    elif healthy:
        # The messages with no bind, and those on a bind that is not healthy, as two ranges of the
        # claim index (status, bind_id, …): "not on a healthy bind" walked every queued message
        # at every run, a million of them behind a big campaign with every bind up.
        unhealthy = router.bind_ids - healthy
        query = queued(M.c.bind_id.is_(None))
        if unhealthy:
            query = select(union_all(query, queued(M.c.bind_id.in_(unhealthy))).subquery())
    else:
        return 0, ReroutePass(healthy)  # nowhere better to go: messages wait, with their reason
    page = conn().execute(query.order_by("id").limit(batch)).all()
    reason = "rerouted: preferred bind back" if returning else "rerouted: previous bind unhealthy"
    moves = []
    for message_id, destination, bind_id in page:
        choice = router.choose(destination)
        if choice.bind_id is None or choice.bind_id == bind_id or choice.bind_id not in healthy:
            continue
        moves.append({"b_id": message_id, "bind_id": choice.bind_id, "route_id": choice.route_id,
                      "price_per_segment": choice.price_per_segment, "currency": choice.currency,
                      "reason": reason})
    if moves:
        # Still queued: a message claimed meanwhile keeps the bind that claimed it.
        conn().execute(update(M).where(M.c.id == bindparam("b_id"), M.c.status == lc.QUEUED)
                       .values(bind_id=bindparam("bind_id"), route_id=bindparam("route_id"),
                               price_per_segment=bindparam("price_per_segment"), currency=bindparam("currency"),
                               reason=bindparam("reason")),
                       moves)
    commit()
    if len(page) < batch:
        return len(moves), ReroutePass(healthy)  # this pass is done; the next starts from the beginning
    return len(moves), ReroutePass(healthy, after_id=page[-1][0], returning_to=state.returning_to)
