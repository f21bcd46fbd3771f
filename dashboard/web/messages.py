"""Messages: search (number, dates, campaign, bind, sender, status) with cursor pages, and one
message with its readable timeline."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from dashboard.extensions import db
from dashboard.models import Bind, Campaign, Message, SenderId
from dashboard.services import budgets, search
from dashboard.sms import lifecycle as lc
from dashboard.sms.lifecycle import MESSAGE_STATES
from dashboard.sms.numbers import InvalidNumber, normalise
from dashboard.sms.timeline import describe_event
from dashboard.web import saved_search
from dashboard.web.access import STAFF, roles_required
from dashboard.web.forms import MessageSearchForm, choices

bp = Blueprint("messages", __name__, url_prefix="/messages")
CAMPAIGNS_IN_FILTER = 300
# Filters that may ride in a URL: none of them is personal data.
URL_FILTERS = ("status", "campaign", "bind", "sender", "since", "until")


def _form(formdata: MultiDict | None = None, data: dict | None = None) -> MessageSearchForm:
    form = MessageSearchForm(formdata=formdata, data=data)
    any_ = [("", "any")]
    form.status.choices = choices(any_ + [(s, s.replace("_", " ")) for s in MESSAGE_STATES])
    form.campaign.choices = choices(
        any_
        + [
            (str(i), n)
            for i, n in db.session.execute(
                select(Campaign.id, Campaign.name)
                .order_by(Campaign.id.desc())
                .limit(CAMPAIGNS_IN_FILTER)
            )
        ]
    )
    wanted = (data or {}).get("campaign") or (formdata or {}).get("campaign")
    if wanted and wanted.isdigit() and wanted not in {c.value for c in form.campaign.choices}:
        name = (
            db.session.scalar(select(Campaign.name).where(Campaign.id == int(wanted)))
            if len(wanted) < 12
            else None
        )
        if name is not None:
            form.campaign.choices.append(choices([(wanted, name)])[0])
    form.bind.choices = choices(
        any_
        + [
            (str(i), n)
            for i, n in db.session.execute(select(Bind.id, Bind.name).order_by(Bind.name))
        ]
    )
    return form


def _filter(form: MessageSearchForm, number: str | None) -> search.MessageFilter:
    def as_id(value: str | None) -> int | None:
        return int(value) if value and value.isdigit() and len(value) < 12 else None

    return search.MessageFilter(
        number=number,
        since=form.since.data,
        until=form.until.data,
        campaign_id=as_id(form.campaign.data),
        bind_id=as_id(form.bind.data),
        source=(form.sender.data or "").strip() or None,
        status=form.status.data or None,
    )


def _number(form: MessageSearchForm) -> str | None:
    """The typed number as E.164; an error on the field when it is not a number."""
    raw = (form.number.data or "").strip()
    if not raw:
        return None
    try:
        return normalise(raw, current_app.config["DEFAULT_REGION"])
    except InvalidNumber as exc:
        form.number.errors = [f"{raw}: {exc}"]
        return None


def _url_values(form: MessageSearchForm) -> dict[str, str]:
    values = {name: form[name].data for name in URL_FILTERS}
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in values.items() if v}


@bp.route("/", methods=["GET", "POST"])
@roles_required(*STAFF)
def index():
    if request.method == "POST":
        form = _form(request.form)
        number = _number(form) if form.validate() else None
        if not form.errors:
            values = _url_values(form)
            if number is None:
                return redirect(url_for("messages.index", **values), 303)
            token = saved_search.remember("messages", values | {"number": number})
            return redirect(url_for("messages.index", search=token), 303)
        return _page(form, None, {}, status=400)
    token = request.args.get("search")
    if token:
        data = saved_search.recall("messages", token)
        if data is None:
            flash("That search has expired: search again.", "error")
            return redirect(url_for("messages.index"), 303)
        form = _form(formdata=MultiDict({k: v for k, v in data.items() if k != "number"}))
        form.number.data = data.get("number")
        pager_args = {"search": token}
    else:
        form = _form(MultiDict({k: request.args[k] for k in URL_FILTERS if k in request.args}))
        pager_args = _url_values(form) if form.validate() else {}
    if form.errors:
        return _page(form, None, {}, status=400)
    return _page(form, _filter(form, form.number.data or None), pager_args)


def _cursor(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() and len(value) < 12 else None


def _page(
    form: MessageSearchForm, flt: search.MessageFilter | None, pager_args: dict, status: int = 200
):
    """The list for `flt`; None (a filter that is not valid) shows the form with its errors only."""
    page = (
        search.search_messages(flt, before=_cursor("before"), after=_cursor("after"))
        if flt is not None
        else search.Page([], None, None)
    )
    senders = db.session.scalars(select(SenderId.value).order_by(SenderId.value)).all()
    return render_template(
        "messages/index.html",
        form=form,
        page=page,
        filtered=flt is None or flt.active,
        pager_args=pager_args,
        senders=senders,
    ), status


@bp.route("/<int:message_id>")
@roles_required(*STAFF)
def show(message_id: int):
    message = db.get_or_404(Message, message_id)
    bind_names = dict(db.session.execute(select(Bind.id, Bind.name)).all())
    events = [
        (event, describe_event(event.kind, event.detail, bind_names)) for event in message.events
    ]
    cost = search.message_costs([message.id]).get(message.id)
    held = budgets.held_currencies() if message.status == lc.QUEUED else {}
    return render_template(
        "messages/show.html",
        message=message,
        events=events,
        cost=cost,
        bind_name=bind_names.get(message.bind_id),
        held_since=held.get(message.currency),
    )
