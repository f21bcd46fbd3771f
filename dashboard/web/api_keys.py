"""API keys (admins): create (the key and its webhook secret are shown once), change, revoke, a
new webhook secret; and the fraud guard's alerts. Every change is audited by the service."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user

from dashboard.extensions import db
from dashboard.models import ApiKey, Role
from dashboard.models.types import utcnow
from dashboard.services import api_keys
from dashboard.web.access import roles_required
from dashboard.web.forms import ApiKeyForm, EmptyForm

bp = Blueprint("api_keys", __name__, url_prefix="/api-keys")


def _settings(form: ApiKeyForm) -> api_keys.KeySettings:
    return api_keys.KeySettings(
        name=form.name.data or "",
        scopes=tuple(form.scopes.data or ()),
        allowed_countries=form.allowed_countries.data or "",
        rate_limit=form.rate_limit.data or "",
        duplicate_window_minutes=form.duplicate_window_minutes.data or 0,
        webhook_url=form.webhook_url.data or "",
        inbound_webhooks=form.inbound_webhooks.data,
    )


def _page(
    form: ApiKeyForm,
    status: int = 200,
    new: api_keys.NewKey | None = None,
    secret: str | None = None,
    secret_for: ApiKey | None = None,
):
    return render_template(
        "api_keys/index.html",
        keys=api_keys.keys(),
        form=form,
        action_form=EmptyForm(),
        alerts=api_keys.recent_alerts(),
        new=new,
        secret=secret,
        secret_for=secret_for,
        now=utcnow(),
    ), status


@bp.route("/", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def index():
    form = ApiKeyForm()
    if not form.is_submitted():
        form.rate_limit.data = current_app.config["API_DEFAULT_RATE_LIMIT"]
    if form.validate_on_submit():
        try:
            new = api_keys.create_key(_settings(form), created_by_id=current_user.id, now=utcnow())
        except api_keys.ApiKeyError as exc:
            form.name.errors = [*form.name.errors, str(exc)]
        else:
            # Shown in this response only: never stored in clear, never in a redirect or a flash.
            return _page(
                ApiKeyForm(formdata=None, rate_limit=current_app.config["API_DEFAULT_RATE_LIMIT"]),
                new=new,
            )
    return _page(form, 400 if form.errors else 200)


def _key(key_id: int) -> ApiKey:
    return db.get_or_404(ApiKey, key_id)


@bp.route("/<int:key_id>", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def edit(key_id: int):
    key = _key(key_id)
    form = ApiKeyForm(obj=key)
    if not form.is_submitted():
        form.scopes.data = sorted(key.scope_set)
        form.allowed_countries.data = ", ".join(sorted(key.country_set))
    if form.validate_on_submit():
        try:
            api_keys.update_key(key, _settings(form), utcnow())
        except api_keys.ApiKeyError as exc:
            form.name.errors = [*form.name.errors, str(exc)]
        else:
            flash(f"Key {key.prefix} saved.", "success")
            return redirect(url_for("api_keys.index"), 303)
    return render_template("api_keys/edit.html", key=key, form=form), 400 if form.errors else 200


@bp.route("/<int:key_id>/revoke", methods=["POST"])
@roles_required(Role.ADMIN)
def revoke(key_id: int):
    key = _key(key_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        api_keys.revoke_key(key, utcnow())
    except api_keys.ApiKeyError as exc:
        flash(str(exc), "error")
    else:
        flash(f"Key {key.prefix} revoked: it opens nothing from now on.", "success")
    return redirect(url_for("api_keys.index"), 303)


@bp.route("/<int:key_id>/webhook-secret", methods=["POST"])
@roles_required(Role.ADMIN)
def webhook_secret(key_id: int):
    key = _key(key_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    secret = api_keys.roll_webhook_secret(key, utcnow())
    form = ApiKeyForm(formdata=None, rate_limit=current_app.config["API_DEFAULT_RATE_LIMIT"])
    return _page(form, secret=secret, secret_for=key)
