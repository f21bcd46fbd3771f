from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from zoneinfo import available_timezones

from flask import (Blueprint, Response, abort, current_app, flash, redirect, render_template, request,
                   stream_with_context, url_for)
from flask_login import current_user
from sqlalchemy import select

from dashboard.csv_stream import csv_chunks
from dashboard.extensions import db, htmx
from dashboard.models import Campaign, ContactList, MessageTemplate
from dashboard.models.campaign import CAMPAIGN_STATES, KINDS
from dashboard.models.types import utcnow
from dashboard.services import audit
from dashboard.services import campaigns as campaign_service
from dashboard.services.senders import approved_senders
from dashboard.services import message_templates as template_service
from dashboard.services import search
from dashboard.sms import templating
from dashboard.sms.encoding import analyse, lookalike_advice
from dashboard.sms.money import MoneyTotals
from dashboard.sms.send_window import ScheduleError, SendWindow, fire_times, local_to_utc, parse_hhmm
from dashboard.services.traffic import Scope
from dashboard.web.access import STAFF, roles_required
from dashboard.web.charts import panel_context
from dashboard.web.forms import (CampaignForm, CampaignSearchForm, EmptyForm, LimitsForm,
                                 RejectForm, TestSendForm, choices)

bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")

LIVE_STATES = ("scheduled", "launching", "running", "paused")
ACTIONS = {"pause": lambda campaign, now: campaign_service.pause(campaign, now, f"paused by {current_user.email}"),
           "resume": campaign_service.resume, "cancel": campaign_service.cancel}


@bp.route("/")
@roles_required(*STAFF)
def index():
    """Campaigns, newest first: by state, by a part of their name, a page at a time."""
    form = CampaignSearchForm(request.args)
    form.status.choices = choices([("", "any state")]
                                  + [(s, s.replace("_", " ")) for s in CAMPAIGN_STATES])
    if not form.validate():
        form.status.data, form.q.data = "", ""
    page = search.search_campaigns(text=form.q.data or None, status=form.status.data or None,
                                   before=_bounded_id(request.args.get("before")),
                                   after=_bounded_id(request.args.get("after")))
    args = {k: v for k, v in (("q", form.q.data), ("status", form.status.data)) if v}
    return render_template("campaigns/index.html", page=page, form=form, pager_args=args,
                           filtered=bool(args))


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*STAFF)
def new():
    form = CampaignForm()
    form.list_id.choices = choices((c.id, c.name) for c in db.session.scalars(select(ContactList).order_by(ContactList.name)))
    form.sender_id_id.choices = choices((s.id, s.value) for s in approved_senders())
    form.template_id.choices = choices([(0, "— none —")] + [(t.id, t.name) for t in db.session.scalars(
        select(MessageTemplate).where(MessageTemplate.archived_at.is_(None)).order_by(MessageTemplate.name))])
    form.time_zone.choices = choices((z, z) for z in all_time_zones())
    _budget_in_currency(form)
    if request.method == "GET":
        form.time_zone.data = current_app.config["DEFAULT_TIME_ZONE"]
    if form.validate_on_submit():
        try:
            campaign = campaign_service.create_campaign(
                created_by_id=current_user.id, now=utcnow(), draft="save_draft" in request.form,
                approval_required=current_app.config["CAMPAIGN_APPROVAL_REQUIRED"], **_settings_from(form))
        except (campaign_service.CampaignError, ScheduleError) as exc:
            flash(str(exc), "error")
        else:
            flash(created_notice(campaign.name, campaign.status), "success")
            return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    return render_template("campaigns/form.html", form=form), 400 if form.errors or request.method == "POST" else 200


def _budget_in_currency(form: CampaignForm | LimitsForm) -> CampaignForm | LimitsForm:
    # Budgets add up recorded prices; they are read in the installation's default currency.
    form.budget.label.text = f"Budget ({current_app.config['DEFAULT_CURRENCY']})"
    return form


STATUS_WORDS = {"draft": "saved as a draft", "awaiting_approval": "sent for approval", "scheduled": "scheduled"}


def created_notice(name: str, status: str) -> str:
    """The flash after creating a campaign. The status is read after the commit, and the
    scheduler may already have moved a campaign due now on (launching, running, even
    completed): such a state is named as it is rather than failing the request."""
    words = STATUS_WORDS.get(status) or f"scheduled and already {status.replace('_', ' ')}"
    return f"Campaign “{name}” {words}."


def _settings_from(form: CampaignForm) -> dict:
    template = db.session.get(MessageTemplate, form.template_id.data) if form.template_id.data else None
    text = form.text.data or ""
    if not text.strip() and template is not None:
        text = template.body
    zone_name = form.time_zone.data or current_app.config["DEFAULT_TIME_ZONE"]
    when = form.scheduled_at.data
    window = None
    if form.window_start.data or form.window_end.data:
        window = SendWindow(parse_hhmm(form.window_start.data or "00:00"), parse_hhmm(form.window_end.data or "24:00"),
                            frozenset(form.window_days.data or ()))
    return dict(name=form.name.data, list_id=form.list_id.data, sender_id_id=form.sender_id_id.data, text=text,
                scheduled_at=local_to_utc(when, zone_name) if when else utcnow(), kind=form.kind.data,
                time_zone=zone_name, recurrence=(form.recurrence.data or "").strip() or None, window=window,
                throughput_cap=form.throughput_cap.data, budget=form.budget.data,
                failure_threshold=form.failure_threshold.data, failure_window=form.failure_window.data or 100,
                template_id=template.id if template else None)


@lru_cache(maxsize=1)
def all_time_zones() -> list[str]:
    return sorted(z for z in available_timezones() if "/" in z or z == "UTC")


@bp.route("/segments")
@roles_required(*STAFF)
def segments():
    """The live counter under the message box: the text as a contact of the chosen list gets it
    (placeholders, opt-out footer), counted like the template editor counts: encoding, room left,
    parts, what forced UCS-2."""
    text = request.args.get("text", "")
    kind = request.args.get("kind", "marketing")
    config = current_app.config
    context, label = template_service.sample_contexts(
        _bounded_id(request.args.get("list_id")), "", "", config["DEFAULT_REGION"],
        footer_countries=templating.footer_countries(config))
    kind = kind if kind in KINDS else "marketing"
    preview = template_service.preview(text, kind, context, label, config)
    info = preview.rendered or preview.body
    culprits, gsm_version = lookalike_advice(preview.text or text, info.non_gsm_chars)
    return render_template("campaigns/_segments.html", text=text, preview=preview,
                           culprits=culprits,
                           gsm_version=gsm_version)


def _bounded_id(raw: str | None) -> int | None:
    """An id from a query string; anything that is not a plausible id is no id."""
    return int(raw) if raw and raw.isdigit() and len(raw) < 12 else None


@bp.route("/<int:campaign_id>")
@roles_required(*STAFF)
def show(campaign_id: int):
    campaign = db.get_or_404(Campaign, campaign_id)
    charts = panel_context(Scope("campaign", campaign.id), campaign, "run") if campaign.launched_at else {}
    return render_template("campaigns/show.html", campaign=campaign, now=utcnow(),
                           **_panels(campaign), **charts)


def _panels(campaign: Campaign) -> dict:
    before_launch = campaign.status in ("draft", "awaiting_approval", "scheduled", "paused") and not campaign.launched_at
    config = current_app.config
    return dict(progress=campaign_service.progress(campaign), segment_info=analyse(campaign.text),
                live=campaign.status in LIVE_STATES, cost=campaign_service.cost_so_far(campaign),
                before_launch=before_launch, window=SendWindow.from_columns(
                    campaign.window_start, campaign.window_end, campaign.window_days),
                upcoming=fire_times(campaign.recurrence, campaign.time_zone, utcnow(), 3) if campaign.recurrence else [],
                samples=campaign_service.samples(campaign, 3) if before_launch else [],
                can_approve=(campaign.status == "awaiting_approval" and current_user.id != campaign.created_by_id),
                test_send_required=config["TEST_SEND_REQUIRED"], test_form=TestSendForm(), reject_form=RejectForm(),
                limits_form=_budget_in_currency(LimitsForm(obj=campaign)), empty_form=EmptyForm())


@bp.route("/<int:campaign_id>/estimate")
@roles_required(*STAFF)
def estimate(campaign_id: int):
    """Loaded after the page (hx-trigger=load): routing a big list takes longer than a page should."""
    campaign = db.get_or_404(Campaign, campaign_id)
    return render_template("campaigns/_estimate.html", campaign=campaign,
                           estimate=campaign_service.estimate(campaign))


@bp.route("/<int:campaign_id>/submit", methods=["POST"])
@roles_required(*STAFF)
def submit(campaign_id: int):
    campaign = db.get_or_404(Campaign, campaign_id)
    return _act(campaign, lambda: campaign_service.submit_for_approval(
        campaign, utcnow(), approval_required=current_app.config["CAMPAIGN_APPROVAL_REQUIRED"]))


@bp.route("/<int:campaign_id>/approve", methods=["POST"])
@roles_required(*STAFF)
def approve(campaign_id: int):
    campaign = db.get_or_404(Campaign, campaign_id)
    return _act(campaign, lambda: campaign_service.approve(
        campaign, current_user, utcnow(), test_send_required=current_app.config["TEST_SEND_REQUIRED"]))


@bp.route("/<int:campaign_id>/reject", methods=["POST"])
@roles_required(*STAFF)
def reject(campaign_id: int):
    campaign = db.get_or_404(Campaign, campaign_id)
    form = RejectForm()
    return _act(campaign, lambda: campaign_service.reject(campaign, current_user, utcnow(), form.note.data or ""), form)


@bp.route("/<int:campaign_id>/test-send", methods=["POST"])
@roles_required(*STAFF)
def test_send(campaign_id: int):
    campaign = db.get_or_404(Campaign, campaign_id)
    form = TestSendForm()
    return _act(campaign, lambda: campaign_service.test_send(
        campaign, form.destination.data or "", current_user, utcnow(), current_app.config["DEFAULT_REGION"]), form,
        done="Test message queued to {to}.")


@bp.route("/<int:campaign_id>/limits", methods=["POST"])
@roles_required(*STAFF)
def limits(campaign_id: int):
    campaign = db.get_or_404(Campaign, campaign_id)
    form = LimitsForm()
    return _act(campaign, lambda: campaign_service.set_limits(
        campaign, throughput_cap=form.throughput_cap.data, budget=form.budget.data,
        failure_threshold=form.failure_threshold.data,
        approval_required=current_app.config["CAMPAIGN_APPROVAL_REQUIRED"]), form, done="Limits saved.")


def _act(campaign: Campaign, action, form=None, done: str | None = None):
    form = form or EmptyForm()
    if not form.validate_on_submit():
        flash("; ".join(f"{form[k].label.text}: {' '.join(v)}" for k, v in form.errors.items()) or "Bad request.",
              "error")
        return redirect(url_for("campaigns.show", campaign_id=campaign.id)), 303
    try:
        action()
    except campaign_service.CampaignError as exc:
        flash(str(exc), "error")
    else:
        flash((done or "Campaign “{name}” is now {status}.").format(
            name=campaign.name, status=campaign.status.replace("_", " "), to=campaign.test_sent_to), "success")
    return redirect(url_for("campaigns.show", campaign_id=campaign.id)), 303


@bp.route("/<int:campaign_id>/dry-run")
@roles_required(*STAFF)
def dry_run(campaign_id: int):
    """Every recipient routed and priced, nothing sent: totals, and who would be skipped and why."""
    campaign = db.get_or_404(Campaign, campaign_id)
    totals = {"recipients": 0, "skipped": 0, "parts": 0, "cost": MoneyTotals()}
    by_route: dict[str, list] = {}
    skipped = []
    for row in campaign_service.dry_run(campaign):
        if row.skipped:
            totals["skipped"] += 1
            if len(skipped) < DRY_RUN_SHOWN:
                skipped.append(row)
            continue
        totals["recipients"] += 1
        totals["parts"] += row.parts
        totals["cost"].add(row.currency, row.cost)
        line = by_route.setdefault(row.route, [0, 0, Decimal("0"), row.currency])
        line[0] += 1
        line[1] += row.parts
        line[2] += row.cost
    return render_template("campaigns/dry_run.html", campaign=campaign, totals=totals, by_route=by_route,
                           skipped=skipped, shown=DRY_RUN_SHOWN)


DRY_RUN_SHOWN = 200
DRY_RUN_CSV_CHUNK_ROWS = 500


@bp.route("/<int:campaign_id>/dry-run.csv", methods=["POST"])
@roles_required(*STAFF)
def dry_run_csv(campaign_id: int):
    """Every recipient's number and name: an audited export, and a POST (a link from another site
    must not start it in a user's name)."""
    campaign = db.get_or_404(Campaign, campaign_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    start = audit.export_started("dry_run_export", fmt="csv", target=campaign, now=utcnow(),
                                 detail=f"dry run of campaign “{campaign.name}”")
    rows = ([row.phone, row.name, row.route, row.parts, row.price_per_segment, row.cost,
             row.currency or "", row.skipped or ""] for row in campaign_service.dry_run(campaign))
    columns = ["phone", "name", "route", "parts", "price_per_part", "cost", "currency", "skipped_because"]
    chunks = csv_chunks(columns, rows, DRY_RUN_CSV_CHUNK_ROWS, lambda count: audit.export_finished(start.id, count))
    return Response(stream_with_context(chunks), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="campaign-{campaign.id}-dry-run.csv"'})


@bp.route("/<int:campaign_id>/progress")
@roles_required(*STAFF)
def progress(campaign_id: int):
    campaign = db.get_or_404(Campaign, campaign_id)
    # The page says which status it shows: when that changed, notices written for it are cleared.
    shown = request.args.get("shown")
    return render_template("campaigns/_progress.html", campaign=campaign,
                           cost=campaign_service.cost_so_far(campaign),
                           progress=campaign_service.progress(campaign),
                           live=campaign.status in LIVE_STATES,
                           status_changed=shown is not None and shown != campaign.status)


@bp.route("/<int:campaign_id>/<any(pause, resume, cancel):action>", methods=["POST"])
@roles_required(*STAFF)
def control(campaign_id: int, action: str):
    """Pause, resume or cancel; answers with the progress partial for htmx, or a redirect."""
    campaign = db.get_or_404(Campaign, campaign_id)
    error = None
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        ACTIONS[action](campaign, utcnow())
    except campaign_service.CampaignError as exc:
        error = str(exc)
    if htmx:
        return render_template("campaigns/_progress.html", campaign=campaign, error=error,
                               cost=campaign_service.cost_so_far(campaign),
                               progress=campaign_service.progress(campaign), live=campaign.status in LIVE_STATES)
    flash(error or f"Campaign “{campaign.name}” {campaign.status}.", "error" if error else "success")
    return redirect(url_for("campaigns.show", campaign_id=campaign.id))
