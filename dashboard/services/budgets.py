"""The monthly budgets, one per currency (never converted): what may be spent in a calendar month
(UTC), set by admins and audited. Spend is read from the rollups (prices recorded at send time,
docs/architecture.md #10). When a month's spend reaches its budget, sending in that currency
pauses — never drops (#6): the sender's claim takes no message priced in it (`within_budget`),
so they wait in the queue; sending campaigns pause through the campaign state machine with the
reason; an alert fires. A raised budget or a new month lifts the hold; paused campaigns are
resumed by a person, as after their own budget.

The check runs after each rollup run, so sending can pass the budget by what is sent between two
runs (seconds of traffic) and what was already in flight: docs/monitoring.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import ColumnElement, or_, select

from dashboard.extensions import db
from dashboard.models import SpendBudget
from dashboard.services import alerts, audit, campaigns, traffic
from dashboard.services.traffic import Scope
from dashboard.sms.money import MoneyError, currency_code, format_money

MAX_BUDGET = Decimal("1e12")


class BudgetError(ValueError):
    pass


def within_budget(currency: ColumnElement) -> ColumnElement:
    """For the sender's claim: a message may go unless its currency's monthly budget is reached."""
    held = select(SpendBudget.currency).where(SpendBudget.reached_at.is_not(None)).scalar_subquery()
    return or_(currency.is_(None), currency.not_in(held))


def held_currencies() -> dict[str, datetime]:
    """Currencies whose monthly budget is reached, and since when."""
    return {row.currency: row.reached_at for row in db.session.scalars(
        select(SpendBudget).where(SpendBudget.reached_at.is_not(None)))}


def month_key(now: datetime) -> str:
    return f"{now:%Y-%m}"


def set_budget(currency: str, amount: str | Decimal | None, now: datetime) -> SpendBudget | None:
    """Set (or, with an empty amount, remove) the monthly budget of a currency. Audited. The hold
    is decided again at once, so raising a reached budget lets sending go on."""
    try:
        code = currency_code(currency)
    except MoneyError as exc:
        raise BudgetError(str(exc)) from None
    row = db.session.get(SpendBudget, code)
    before = {"monthly_amount": row.monthly_amount if row else None}
    if amount in (None, ""):
        if row is None:
            return None
        db.session.delete(row)
        audit.record("budget_remove", target_type="spend_budget", changes=audit.diff(before, {"monthly_amount": None}),
                     detail=code, now=now)
        db.session.commit()
        enforce(now)
        return None
    try:
        value = Decimal(str(amount).strip())
    except (InvalidOperation, ValueError):
        raise BudgetError(f"{amount!r} is not an amount: give a number such as 5000") from None
    if not value.is_finite() or not 0 < value <= MAX_BUDGET:
        raise BudgetError(f"the budget must be above 0 and at most {MAX_BUDGET:,.0f}")
    if row is None:
        row = SpendBudget(currency=code, monthly_amount=value, updated_at=now)
        db.session.add(row)
    else:
        row.monthly_amount, row.updated_at = value, now
    audit.record("budget_set", target_type="spend_budget", changes=audit.diff(before, {"monthly_amount": value}),
                 detail=code, now=now)
    db.session.commit()
    enforce(now)
    return row


@dataclass(frozen=True)
class Standing:
    """One currency's spend today and this month, against its monthly budget."""
    currency: str
    today: Decimal
    month: Decimal
    budget: Decimal | None
    reached_at: datetime | None

    @property
    def used_pct(self) -> float | None:
        return float(100 * self.month / self.budget) if self.budget else None

    def money(self, amount: Decimal | None) -> str:
        return format_money(amount, self.currency)


def standing(now: datetime) -> list[Standing]:
    """Every currency spent in this month or with a budget, largest spend first."""
    month, today = traffic.spend_month_and_day(now)
    budgets = {b.currency: b for b in db.session.scalars(select(SpendBudget))}
    currencies = [c for c in month.currencies if c] + sorted(set(budgets) - set(month.currencies))
    return [Standing(c, today.amount(c), month.amount(c), budgets[c].monthly_amount if c in budgets else None,
                     budgets[c].reached_at if c in budgets else None) for c in currencies]


def enforce(now: datetime) -> list[str]:
    """Hold or release each currency by its month's spend against its budget; while held, pause
    sending campaigns priced in it (through the campaign service) and keep its alert firing.
    Returns the currencies held."""
    budgets = db.session.scalars(select(SpendBudget).order_by(SpendBudget.currency)).all()
    if not budgets:
        return []
    month = traffic.spend(Scope(), traffic.start_of_month(now))
    held = []
    for budget in budgets:
        spent = month.amount(budget.currency)
        key = f"budget:{budget.currency}"
        if spent >= budget.monthly_amount:
            if budget.reached_at is None or budget.reached_month != month_key(now):
                budget.reached_at, budget.reached_month = now, month_key(now)
            reason = (f"monthly budget reached: {format_money(spent, budget.currency)} spent of "
                      f"{format_money(budget.monthly_amount, budget.currency)} in {month_key(now)}; "
                      "raise it to go on")
            alerts.open_system_alert(key, f"Monthly budget for {budget.currency} reached: sending in "
                                     f"{budget.currency} is paused", reason, float(spent), now)
            campaigns.pause_spending_in(budget.currency, reason)
            held.append(budget.currency)
        elif budget.reached_at is not None:
            budget.reached_at, budget.reached_month = None, None
            alerts.resolve_system_alert(key, now)
    db.session.commit()
    return held
