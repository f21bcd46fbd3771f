"""Live charts: delivery rate, throughput against the binds' rates, cost per currency, failures by
reason and receipt latency, for everything (the overview), one bind or one campaign, over 1 h,
24 h, 7 d, 30 d or a campaign's run. Drawn on the server as SVG by pygal from the rollups
(dashboard/services/traffic.py); each chart polls itself with htmx, so it moves without a reload.

The SVG goes into the page as an <img> with a data: URL. pygal's output carries a <style> and a
<script> of its own, which the Content-Security-Policy would refuse inline in the page; an image is
its own document, where scripts never run and its styles apply only to itself (docs/security.md).
"""
from __future__ import annotations

import base64
import sys
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

import pygal
from flask import Blueprint, abort, current_app, render_template, request
from flask_login import current_user
from pygal.style import Style
from sqlalchemy import func, select

from dashboard.extensions import db
from dashboard.models import Bind, BindStatus, Campaign
from dashboard.models.types import utcnow
from dashboard.services import traffic
from dashboard.services.traffic import Scope, Series
from dashboard.sms.money import format_amount
from dashboard.sms.traffic import LATENCY_BOUNDS, RANGES, ChartRange, chart_range, percentile, run_range, step_for
from dashboard.web.access import ALL_ROLES, roles_required

# pygal appends a legacy import hook to sys.meta_path for its map plugins (unused here); without a
# find_spec, it makes every later failed import warn (ImportWarning). Take it out again
# (docs/dependencies.md).
sys.meta_path[:] = [finder for finder in sys.meta_path if type(finder).__name__ != "PluginImportFixer"]

bp = Blueprint("charts", __name__, url_prefix="/charts")

CHARTS = ("delivery", "throughput", "cost", "failures", "latency")
TITLES = {"delivery": "Delivery rate", "throughput": "Throughput", "cost": "Cost",
          "failures": "Failures by reason", "latency": "Receipt latency"}
POLL_SECONDS = 10
# The rollup tables each chart reads; the delivery chart's empty state also looks at the others'
# figures only through the traffic table (what ended, what was accepted).
NEEDS = {"delivery": ("traffic",), "throughput": ("traffic",), "cost": ("spend",), "failures": ("failures",),
         "latency": ("traffic",)}
# Bar charts draw wider steps than lines, to stay readable (and quick to draw: pygal's time grows
# with every bar): one bar per 5 min over 1 h, per hour over 24 h, per 6 h over 7 d, per day over 30 d.
BAR_STEPS = {"1h": timedelta(minutes=5), "24h": timedelta(hours=1), "7d": timedelta(hours=6),
             "30d": timedelta(days=1)}
MOST_BARS = 36  # a campaign's run: its own steps, grouped up to this many bars
STALE_ROLLUPS = timedelta(minutes=2)
# Colours that read on white and in a grey-scale print: delivered green, failures warm, rates grey.
_STYLE = dict(background="white", plot_background="white", foreground="#373c44", foreground_strong="#1d2125",
              foreground_subtle="#d5d9de", opacity=".85", opacity_hover=".95", transition="0ms",
              font_family="DejaVu Sans, Helvetica, Arial, sans-serif", label_font_size=13,
              major_label_font_size=13, legend_font_size=14, title_font_size=17, value_font_size=13,
              no_data_font_size=18)
STYLE = Style(colors=("#1f7a3a", "#1565c0", "#6a1b9a", "#ef6c00", "#00838f", "#8d6e63", "#546e7a"), **_STYLE)
# Failures in warm colours, most frequent reason darkest.
FAILURE_STYLE = Style(colors=("#b71c1c", "#e65100", "#f9a825", "#ad1457", "#6d4c41", "#ff7043", "#9e9e9e"),
                      **_STYLE)


@dataclass(frozen=True)
class Drawn:
    name: str
    title: str
    image: str | None  # data: URL of the SVG, or None for the empty state
    summary: str  # one sentence: what the chart says (also its alt text)
    empty_reason: str | None = None
    figures: dict | None = None  # raw numbers for scripts and tests (data-* attributes)


def scope_of(slug: str) -> tuple[Scope, object | None]:
    """"all", "bind-3" or "campaign-5" → the scope and its bind or campaign (404 if unknown; a
    bind's charts are for staff, as its page is: docs/roles.md)."""
    if slug == "all":
        return Scope(), None
    kind, _, raw = slug.partition("-")
    if kind not in ("bind", "campaign") or not raw.isdigit() or len(raw) > 12:
        abort(404)
    model = Bind if kind == "bind" else Campaign
    found = db.session.get(model, int(raw))
    if found is None or (kind == "bind" and found.deleted_at is not None):
        abort(404)
    if kind == "bind" and not current_user.has_role("admin", "ops"):
        abort(403)
    return Scope(kind, found.id), found


def range_for(key: str | None, owner) -> tuple[ChartRange, datetime | None, datetime]:
    """The range asked for; "run" is a campaign's launch to its end (or now)."""
    now = utcnow()
    if key == "run" and isinstance(owner, Campaign) and owner.launched_at:
        end = min(owner.completed_at + timedelta(minutes=1), now) if owner.completed_at else now
        start = owner.launched_at - timedelta(minutes=1)
        return run_range(end - start), start, end
    return chart_range(key), None, now


@bp.route("/<scope>")
@roles_required(*ALL_ROLES)
def panel(scope: str):
    """Every chart of a scope, with the range buttons: what a page includes."""
    found_scope, owner = scope_of(scope)
    key = request.args.get("range")
    return render_template("charts/_panel.html", **panel_context(found_scope, owner, key))


@bp.route("/<scope>/<any(delivery, throughput, cost, failures, latency):name>")
@roles_required(*ALL_ROLES)
def chart(scope: str, name: str):
    """One chart alone, as it polls itself."""
    found_scope, owner = scope_of(scope)
    key = request.args.get("range")
    [drawn] = drawn_charts(found_scope, owner, key, (name,))
    return render_template("charts/_chart.html", scope=found_scope, range_key=_range_key(key, owner),
                           chart=drawn, poll=POLL_SECONDS)


def panel_context(scope: Scope, owner, key: str | None) -> dict:
    """What charts/_panel.html needs: every chart of the scope."""
    ranges = [(r.key, r.label) for r in RANGES.values()]
    if isinstance(owner, Campaign) and owner.launched_at:
        ranges.append(("run", "Its run"))
    return dict(scope=scope, range_key=_range_key(key, owner), ranges=ranges, poll=POLL_SECONDS,
                charts=drawn_charts(scope, owner, key, CHARTS))


# Drawn charts by what decides them: the scope, the chart, its range and steps, the rollups' last
# run and the binds' rates. A chart polled by every open page is drawn once per rollup run.
_drawn: OrderedDict[tuple, Drawn] = OrderedDict()
CACHED_CHARTS = 256


def drawn_charts(scope: Scope, owner, key: str | None, names) -> list[Drawn]:
    chart_spec, start, end = range_for(key, owner)
    minute_hours = current_app.config["ROLLUP_MINUTE_HOURS"]
    last = traffic.rolled_up_at()
    step = step_for(chart_spec, end, traffic.minute_horizon(end, minute_hours))
    stale = last is None or utcnow() - last > STALE_ROLLUPS
    version = (scope, _range_key(key, owner), start, int(end.timestamp()) // int(step.total_seconds()),
               last, stale, _bind_rates(scope, owner), isinstance(owner, Campaign) and owner.launched_at)
    found = {name: _drawn.get((name, *version)) for name in names}
    missing = [name for name, drawn in found.items() if drawn is None]
    if missing:
        tables = tuple(dict.fromkeys(table for name in missing for table in NEEDS[name]))
        data = traffic.series(scope, chart_spec, end, minute_hours, start=start, tables=tables)
        for name in missing:
            found[name] = _drawn[(name, *version)] = draw(name, data, scope, owner, chart_spec, start)
        while len(_drawn) > CACHED_CHARTS:
            _drawn.popitem(last=False)
    return [found[name] for name in names]


def _range_key(key: str | None, owner) -> str:
    if key == "run" and isinstance(owner, Campaign) and owner.launched_at:
        return "run"
    return chart_range(key).key


# ----------------------------------------------------------------------------- drawing


def _labels(data: Series) -> list[str]:
    step = data.step
    if step < timedelta(hours=1):
        fmt = "%H:%M"
    elif step < timedelta(days=1) and data.steps[-1].start - data.steps[0].start <= timedelta(days=2):
        fmt = "%H:%M"
    else:
        fmt = "%d %b %Hh"
    return [s.start.strftime(fmt) for s in data.steps]


def _base(chart_type, data: Series, title: str, y_title: str, style: Style = STYLE, **options):
    points = len(data.steps)
    # No x_title: with one, pygal draws the bottom legend below the picture; the panel says "UTC".
    chart = chart_type(style=style, js=[], width=640, height=340, explicit_size=False, title=title,
                       y_title=y_title, legend_at_bottom=True, legend_at_bottom_columns=3,
                       show_minor_x_labels=False, x_labels_major_every=max(1, points // 6), truncate_label=-1,
                       truncate_legend=-1, show_dots=False, dots_size=2.5, allow_interruptions=True,
                       margin=10, margin_bottom=28, spacing=8, print_values=False, show_x_guides=False,
                       **options)
    chart.x_labels = _labels(data)
    return chart


def _line(chart, title: str, values: list, **options) -> None:
    """A line, with a dot on each point while they are few (a lone point is no line)."""
    chart.add(title, values, show_dots=sum(v is not None for v in values) <= 40, **options)


def _image(chart) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(chart.render()).decode()


def _span_words(data: Series, start: datetime | None) -> str:
    if start is not None:
        return "over its run"
    span = data.steps[-1].start - data.steps[0].start + data.step
    hours = round(span.total_seconds() / 3600)
    return f"in the last {hours} h" if hours <= 48 else f"in the last {round(hours / 24)} days"


def _empty_reason(name: str, scope: Scope, owner, words: str) -> str:
    last = traffic.rolled_up_at()
    whose = {"all": "at all", "bind": "on this bind", "campaign": "for this campaign"}[scope.kind]
    if last is None:
        return ("No figures yet: the rollup job has not run. It runs in the sender worker "
                "(flask --app app worker).")
    if utcnow() - last > STALE_ROLLUPS:
        return (f"No traffic {whose} {words} as of {last:%Y-%m-%d %H:%M} UTC, when the rollup job last ran: "
                "is a sender worker running?")
    if isinstance(owner, Campaign) and not owner.launched_at:
        return "Nothing sent yet: the campaign has not been launched."
    if name == "cost":
        return f"Nothing was paid for {whose} {words}: no priced part was accepted."
    if name == "failures":
        return f"No message failed {whose} {words}."
    return f"No messages were sent or ended {whose} {words}."


def draw(name: str, data: Series, scope: Scope, owner, chart_spec: ChartRange, start: datetime | None) -> Drawn:
    words = _span_words(data, start)
    if data.empty:
        return Drawn(name, TITLES[name], None, f"{TITLES[name]}: no data {words}.", _empty_reason(name, scope, owner, words),
                     {"points": 0})
    return DRAWERS[name](data, scope, owner, words)


def _draw_delivery(data: Series, scope: Scope, owner, words: str) -> Drawn:
    chart = _base(pygal.Line, data, "Delivery rate (%)", "% delivered", range=(0, 100), include_x_axis=True)
    _line(chart, "Delivered % of messages with an outcome", [s.delivery_rate for s in data.steps])
    delivered, failed = data.total("delivered"), data.total("failed")
    overall = 100.0 * delivered / (delivered + failed) if delivered + failed else None
    summary = (f"{overall:.1f} % delivered of {delivered + failed:,} messages with an outcome {words}."
               if overall is not None else f"No message reached an outcome {words}.")
    return Drawn("delivery", TITLES["delivery"], _image(chart), summary, None,
                 {"delivered": delivered, "failed": failed, "points": len(data.steps)})


def _bind_rates(scope: Scope, owner) -> tuple[float | None, float | None]:
    """Contracted and settled parts/s for the scope: a bind's, or all enabled binds' together."""
    if scope.kind == "bind":
        status = db.session.get(BindStatus, scope.id)
        return owner.tps, (status.settled_tps if status else None)
    if scope.kind == "all":
        contracted = db.session.scalar(select(func.sum(Bind.tps)).where(Bind.enabled.is_(True),
                                                                        Bind.deleted_at.is_(None)))
        return (float(contracted) if contracted else None), None
    return None, None


def _draw_throughput(data: Series, scope: Scope, owner, words: str) -> Drawn:
    seconds = data.step.total_seconds()
    chart = _base(pygal.Line, data, f"Throughput (parts/s, average per {_step_words(data.step)})", "parts/s",
                  include_x_axis=True)
    actual = [s.counts["parts"] / seconds for s in data.steps]
    _line(chart, "Actual", actual)
    contracted, settled = _bind_rates(scope, owner)
    if contracted:
        chart.add("Contracted", [contracted] * len(actual), show_dots=False, stroke_style={"dasharray": "6, 4"})
    if settled:
        chart.add("Settled after throttling", [settled] * len(actual), show_dots=False,
                  stroke_style={"dasharray": "2, 3"})
    peak = max(actual)
    throttled = data.total("throttled")
    summary = (f"Peak {peak:,.2f} parts/s {words}" + (f" against {contracted:g} contracted" if contracted else "")
               + (f", settled at {settled:g} after throttling" if settled else "")
               + f"; {throttled:,} throttled answers.")
    return Drawn("throughput", TITLES["throughput"], _image(chart), summary, None,
                 {"parts": data.total("parts"), "throttled": throttled, "points": len(data.steps)})


def _step_words(step: timedelta) -> str:
    minutes = int(step.total_seconds() // 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h"


def _bars(data: Series) -> Series:
    span = data.steps[-1].start - data.steps[0].start + data.step
    wanted = next((step for key, step in BAR_STEPS.items() if RANGES[key].span >= span - data.step), None)
    if wanted is None or span / wanted > MOST_BARS:
        wanted = data.step * -(-len(data.steps) // MOST_BARS)
    return traffic.coarser(data, max(wanted, data.step))


def _draw_cost(data: Series, scope: Scope, owner, words: str) -> Drawn:
    data = _bars(data)
    if not any(amount for s in data.steps for _, amount in s.cost.items()):
        return Drawn("cost", TITLES["cost"], None, f"Cost: nothing paid for {words}.",
                     f"Nothing was paid for {words}: the parts accepted had no price (no route priced them).",
                     {"points": 0})
    chart = _base(pygal.Bar, data, f"Cost per {_step_words(data.step)} (each currency apart, never converted)",
                  "amount")
    for currency in data.currencies:
        chart.add(currency, [float(s.cost.amount(currency)) or None for s in data.steps])
    totals = [f"{format_amount(sum((s.cost.amount(c) for s in data.steps), 0))} {c}" for c in data.currencies]
    summary = (f"Spent {' + '.join(totals)} {words}." if totals else f"Nothing was paid for {words}.")
    return Drawn("cost", TITLES["cost"], _image(chart), summary, None,
                 {"currencies": ",".join(data.currencies), "points": len(data.steps)})


def _draw_failures(data: Series, scope: Scope, owner, words: str) -> Drawn:
    data = _bars(data)
    chart = _base(pygal.StackedBar, data, f"Failures by reason (messages per {_step_words(data.step)})",
                  "messages", style=FAILURE_STYLE)
    shown = data.reasons[:6]
    for reason in shown:
        chart.add(reason, [s.failures[reason] or None for s in data.steps])
    rest = data.reasons[6:]
    if rest:
        chart.add("other reasons", [sum(s.failures[r] for r in rest) or None for s in data.steps])
    failed = sum(sum(s.failures.values()) for s in data.steps)
    summary = (f"{failed:,} failed {words}; most often {shown[0]}." if shown else f"No failures {words}.")
    return Drawn("failures", TITLES["failures"], _image(chart), summary, None,
                 {"failed": failed, "reasons": "|".join(shown), "points": len(data.steps)})


def _draw_latency(data: Series, scope: Scope, owner, words: str) -> Drawn:
    chart = _base(pygal.Line, data, "Receipt latency, submit to final receipt (s)", "seconds", include_x_axis=True)
    _line(chart, "p50", [s.latency(0.5) for s in data.steps])
    _line(chart, "p95", [s.latency(0.95) for s in data.steps])
    combined = [sum(column) for column in zip(*(s.receipt for s in data.steps))]
    p50, p95 = percentile(combined, LATENCY_BOUNDS, 0.5), percentile(combined, LATENCY_BOUNDS, 0.95)
    summary = (f"Receipts came back in {p50:.1f} s at the median, {p95:.1f} s at p95 {words}."
               if p50 is not None else f"No receipts {words}.")
    return Drawn("latency", TITLES["latency"], _image(chart), summary, None,
                 {"p50": "" if p50 is None else f"{p50:.2f}", "p95": "" if p95 is None else f"{p95:.2f}",
                  "points": len(data.steps)})


DRAWERS = {"delivery": _draw_delivery, "throughput": _draw_throughput, "cost": _draw_cost,
           "failures": _draw_failures, "latency": _draw_latency}
