"""Alerts: what is firing (on every page, as a banner that polls itself), who acknowledged it, the
history; the rules, the monthly budgets and the delivery-time targets, which admins edit (each
change audited). Everyone reads; admin and ops acknowledge; admins change (docs/roles.md)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from dashboard.extensions import db
from dashboard.models import Alert, AlertRule, Role
from dashboard.models.types import utcnow
from dashboard.services import alerts as alert_service
from dashboard.services import budgets, traffic
from dashboard.sms.alerts import RULE_KINDS
from dashboard.sms.traffic import LATENCY_BOUNDS, TYPE_LABELS
from dashboard.web.access import ALL_ROLES, STAFF, roles_required
from dashboard.web.forms import AlertRuleForm, BudgetForm, EmptyForm, LatencyTargetForm, choices

bp = Blueprint("alerts", __name__, url_prefix="/alerts")


def _rule_form(rule: AlertRule | None = None) -> AlertRuleForm:
    form = AlertRuleForm(obj=rule)
    form.kind.choices = choices((k.key, f"{k.label} ({k.unit})") for k in RULE_KINDS.values())
    return form


def _target_form() -> LatencyTargetForm:
    form = LatencyTargetForm()
    form.kind.choices = choices(TYPE_LABELS.items())
    form.seconds.choices = choices((b, f"{b:g} s") for b in LATENCY_BOUNDS)
    return form


def _page(rule_form: AlertRuleForm | None = None, status: int = 200):
    now = utcnow()
    return render_template("alerts/index.html", open_list=alert_service.open_alerts(),
                           history=alert_service.history(50), rules=alert_service.rules(), kinds=RULE_KINDS,
                           rule_form=rule_form or _rule_form(), budget_form=BudgetForm(), target_form=_target_form(),
                           spending=budgets.standing(now), targets=traffic.targets_since(traffic.start_of_day(now)),
                           action_form=EmptyForm()), status


@bp.route("/")
@roles_required(*ALL_ROLES)
def index():
    return _page()


@bp.route("/banner")
@roles_required(*ALL_ROLES)
def banner():
    """The banner alone, polled by every page while anything is open."""
    return render_template("alerts/_banner.html")


@bp.route("/<int:alert_id>/acknowledge", methods=["POST"])
@roles_required(*STAFF)
def acknowledge(alert_id: int):
    alert = db.get_or_404(Alert, alert_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        alert_service.acknowledge(alert, current_user, utcnow())
    except alert_service.AlertError as exc:
        flash(str(exc), "error")
    else:
        flash(f"Acknowledged: {alert.title}.", "success")
    return redirect(url_for("alerts.index"), 303)


def _settings(form: AlertRuleForm) -> alert_service.RuleSettings:
    return alert_service.RuleSettings(
        name=form.name.data or "", kind=form.kind.data, threshold=form.threshold.data, scope=form.scope.data,
        scope_value=form.scope_value.data or "", window_minutes=form.window_minutes.data,
        min_messages=form.min_messages.data, currency=form.currency.data or None, email=form.email.data,
        enabled=form.enabled.data)


@bp.route("/rules", methods=["POST"])
@roles_required(Role.ADMIN)
def create_rule():
    form = _rule_form()
    if form.validate_on_submit():
        try:
            rule = alert_service.create_rule(_settings(form), utcnow())
        except alert_service.AlertError as exc:
            form.threshold.errors = [*form.threshold.errors, str(exc)]
            flash(str(exc), "error")
        else:
            flash(f"Rule “{rule.name}” saved; the worker evaluates it every 15 s.", "success")
            return redirect(url_for("alerts.index"), 303)
    return _page(form, 400)


@bp.route("/rules/<int:rule_id>", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def edit_rule(rule_id: int):
    rule = db.get_or_404(AlertRule, rule_id)
    if rule.deleted_at is not None:
        abort(404)
    form = _rule_form(rule)
    if form.validate_on_submit():
        try:
            alert_service.update_rule(rule, _settings(form), utcnow())
        except alert_service.AlertError as exc:
            flash(str(exc), "error")
        else:
            flash(f"Rule “{rule.name}” saved.", "success")
            return redirect(url_for("alerts.index"), 303)
    return render_template("alerts/rule.html", rule=rule, form=form, kinds=RULE_KINDS), 400 if form.errors else 200


@bp.route("/rules/<int:rule_id>/delete", methods=["POST"])
@roles_required(Role.ADMIN)
def delete_rule(rule_id: int):
    rule = db.get_or_404(AlertRule, rule_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    if rule.deleted_at is None:
        alert_service.delete_rule(rule, utcnow())
        flash(f"Rule “{rule.name}” deleted; its alerts stay in the history.", "success")
    return redirect(url_for("alerts.index"), 303)


@bp.route("/budgets", methods=["POST"])
@roles_required(Role.ADMIN)
def set_budget():
    form = BudgetForm()
    if not form.validate_on_submit():
        flash("; ".join(f"{form[k].label.text}: {' '.join(v)}" for k, v in form.errors.items()), "error")
        return _page(status=400)
    try:
        budgets.set_budget(form.currency.data, form.amount.data, utcnow())
    except budgets.BudgetError as exc:
        flash(str(exc), "error")
        return _page(status=400)
    flash(f"Monthly budget for {form.currency.data.strip().upper()} saved.", "success")
    return redirect(url_for("alerts.index"), 303)


@bp.route("/targets", methods=["POST"])
@roles_required(Role.ADMIN)
def set_target():
    form = _target_form()
    if not form.validate_on_submit():
        flash("; ".join(f"{form[k].label.text}: {' '.join(v)}" for k, v in form.errors.items()), "error")
        return _page(status=400)
    try:
        traffic.set_latency_target(form.kind.data, form.seconds.data, form.share.data, utcnow())
    except ValueError as exc:
        flash(str(exc), "error")
        return _page(status=400)
    flash(f"Target for {TYPE_LABELS[form.kind.data].lower()} saved.", "success")
    return redirect(url_for("alerts.index"), 303)
