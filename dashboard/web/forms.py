"""Flask-WTF forms: CSRF on every one of them comes from FlaskForm, and text without NUL bytes or
other control characters from the shared `Meta` below (PostgreSQL refuses NUL in text; SQLite
would store it and every page, CSV and SMS would carry it)."""
from __future__ import annotations

from flask_wtf import FlaskForm as BaseFlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import (BooleanField, DateField, DateTimeLocalField, DecimalField, FloatField, IntegerField,
                     PasswordField, SelectChoice, SelectField, SelectMultipleField, StringField, TextAreaField)
from wtforms.widgets import CheckboxInput, ListWidget
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from dashboard.models.carrier import BIND_MODES, CONCAT_MODES, MESSAGE_ID_FORMATS
from dashboard.sms.sender_ids import REGISTRATION_STATUSES


def _refuse_control_characters(form, field) -> None:
    value = field.data
    if isinstance(value, str) and any(ch == "\x00" or (ord(ch) < 32 and ch not in "\t\r\n") for ch in value):
        raise ValidationError("contains a control character (such as a NUL byte); remove it")


class FlaskForm(BaseFlaskForm):
    """Every form of the console: text fields refuse NUL bytes and other control characters."""

    class Meta:
        def bind_field(self, form, unbound_field, options):
            field = unbound_field.bind(form=form, **options)
            if isinstance(field, StringField):  # TextAreaField and PasswordField too
                # A new list: the one given to the field class is shared by every instance.
                field.validators = [*field.validators, _refuse_control_characters]
            return field


def choices(pairs) -> list[SelectChoice]:
    """(value, label) pairs as SelectChoice: WTForms 3.3 deprecates plain tuples."""
    return [SelectChoice(value, label) for value, label in pairs]


class LoginForm(FlaskForm):
    email = StringField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired()])


class BindForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=80)])
    host = StringField("Host", validators=[DataRequired(), Length(max=255)])
    port = IntegerField("Port", validators=[DataRequired(), NumberRange(1, 65535)])
    system_id = StringField("System ID", validators=[DataRequired(), Length(max=15)])
    # Never pre-filled: on edit, leaving it empty keeps the stored password.
    password = PasswordField("Password", validators=[Optional(), Length(max=8)])
    system_type = StringField("System type", validators=[Optional(), Length(max=12)])
    mode = SelectField("Bind mode", choices=choices((m, m) for m in BIND_MODES))
    tps = FloatField("Throughput limit (parts/s)", default=50, validators=[NumberRange(0.1, 100000)])
    window = IntegerField("Window", default=10, validators=[NumberRange(1, 1000)])
    enquire_link_interval = FloatField("enquire_link every (s)", default=30, validators=[NumberRange(1, 3600)])
    response_timeout = FloatField("Response timeout (s)", default=10, validators=[NumberRange(0.5, 300)])
    use_tls = BooleanField("SMPP over TLS")
    default_data_coding = SelectField("GSM-7 data_coding", coerce=int,
                                      choices=choices([(0, "0x00 SMSC default"), (1, "0x01 IA5")]))
    concat_mode = SelectField("Long messages", choices=choices((m, m) for m in CONCAT_MODES))
    message_id_format = SelectField("Receipt message ids", choices=choices((m, m) for m in MESSAGE_ID_FORMATS))
    max_attempts = IntegerField("Max attempts", default=5, validators=[NumberRange(1, 50)])
    enabled = BooleanField("Enabled", default=True)


class RouteForm(FlaskForm):
    destination = StringField("Destination", validators=[DataRequired(), Length(max=24)],
                              description="A number prefix (+44, +1 416), a country (GB) "
                                          "or * for every destination")
    bind_id = SelectField("Bind", coerce=int)
    price = StringField("Price per part", validators=[DataRequired(), Length(max=24)],
                        description="e.g. 0.0075")
    currency = StringField("Currency", validators=[DataRequired(), Length(max=3)],
                           description="ISO code: USD, EUR…")
    priority = IntegerField("Priority", default=100, validators=[NumberRange(0, 10000)],
                            description="Among equal prices, the lower number is tried first")


class RouteChangeForm(FlaskForm):
    price = StringField("Price per part", validators=[DataRequired(), Length(max=24)],
                        description="From now on: messages already queued or sent keep their price")
    currency = StringField("Currency", validators=[DataRequired(), Length(max=3)])
    priority = IntegerField("Priority", validators=[NumberRange(0, 10000)])
    enabled = BooleanField("Enabled")


class RouteTestForm(FlaskForm):
    """Posted, not a query string: numbers stay out of URLs and access logs."""
    number = StringField("Phone number", validators=[DataRequired(), Length(max=40)])


class MessageSearchForm(FlaskForm):
    """Posted (the number must stay out of URLs); also read from a query string for the filters
    without personal data. CSRFProtect still guards every POST."""

    class Meta:
        csrf = False

    number = StringField("Number", validators=[Optional(), Length(max=40)])
    status = SelectField("Status", default="")
    campaign = SelectField("Campaign", default="")
    bind = SelectField("Bind", default="")
    sender = StringField("Sender", validators=[Optional(), Length(max=20)])
    since = DateField("From", validators=[Optional()])
    until = DateField("To (inclusive)", validators=[Optional()])


class CampaignSearchForm(FlaskForm):
    """A GET filter: campaign names are not personal data."""

    class Meta:
        csrf = False

    q = StringField("Name contains", validators=[Optional(), Length(max=120)])
    status = SelectField("Status", default="")


class ContactSearchForm(FlaskForm):
    """Posted: a number or a name is personal data, kept out of the URL."""

    class Meta:
        csrf = False

    q = StringField("Number or name", validators=[Optional(), Length(max=120)])


class OptOutForm(FlaskForm):
    scope = SelectField("Opt out of", default="list",
                        choices=choices([("list", "this list"), ("global", "everything we send")]))
    note = StringField("Why (kept with the consent record)",
                       validators=[Optional(), Length(max=300)])


class ContactListForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])


class ContactForm(FlaskForm):
    phone = StringField("Phone number", validators=[DataRequired(), Length(max=40)])
    name = StringField("Name", validators=[Optional(), Length(max=200)])
    evidence = StringField("Consent evidence", validators=[DataRequired(), Length(max=500)],
                           description="How this person opted in, e.g. 'signed up at the shop counter'")


class CampaignForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    list_id = SelectField("Contact list", coerce=int, validators=[DataRequired()])
    sender_id_id = SelectField("Sender ID", coerce=int, validators=[DataRequired()])
    template_id = SelectField("Start from a template", coerce=int, default=0, validators=[Optional()],
                              description="Its text is copied into the message below when that is empty")
    kind = SelectField("Type", default="marketing", choices=choices([("marketing", "Marketing"),
                                                ("transactional", "Transactional (goes first in the queue)")]))
    text = TextAreaField("Message", validators=[Optional(), Length(max=1600)],
                         description="Placeholders such as {{ first_name | default('there') }} are filled per recipient")
    time_zone = SelectField("Time zone", validators=[Optional()])
    scheduled_at = DateTimeLocalField("Send at", format="%Y-%m-%dT%H:%M", validators=[Optional()],
                                      description="In the time zone above; empty: as soon as it is approved")
    recurrence = StringField("Repeat (crontab)", validators=[Optional(), Length(max=120)],
                             description="e.g. 0 10 * * mon for every Monday 10:00 in the time zone above")
    window_start = StringField("Send only from", validators=[Optional(), Length(max=5)],
                               description="Recipient's local time, e.g. 09:00")
    window_end = StringField("until", validators=[Optional(), Length(max=5)], description="e.g. 20:00")
    window_days = SelectMultipleField("on", coerce=int, default=[0, 1, 2, 3, 4, 5, 6],
                                      choices=choices(enumerate(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"))),
                                      widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
    throughput_cap = FloatField("Throughput cap (msgs/s)", validators=[Optional(), NumberRange(0.01, 100000)])
    budget = DecimalField("Budget", places=4, validators=[Optional(), NumberRange(0.0001)],
                          description="Pauses itself before spending more")
    failure_threshold = FloatField("Pause at failure rate (%)", validators=[Optional(), NumberRange(0.1, 100)])
    failure_window = IntegerField("over the last N messages", default=100,
                                  validators=[Optional(), NumberRange(10, 100000)])


class LimitsForm(FlaskForm):
    throughput_cap = FloatField("Throughput cap (msgs/s)", validators=[Optional(), NumberRange(0.01, 100000)])
    budget = DecimalField("Budget", places=4, validators=[Optional(), NumberRange(0.0001)])
    failure_threshold = FloatField("Pause at failure rate (%)", validators=[Optional(), NumberRange(0.1, 100)])


class TestSendForm(FlaskForm):
    destination = StringField("Send a test to", validators=[DataRequired(), Length(max=40)])


class RejectForm(FlaskForm):
    note = TextAreaField("What must change", validators=[DataRequired(), Length(max=1000)])


class SenderIdForm(FlaskForm):
    value = StringField("Sender ID", validators=[DataRequired(), Length(max=20)])
    kind = SelectField("Type", default="marketing", choices=choices([("alphanumeric", "Alphanumeric"), ("short_code", "Short code"),
                                                ("long_code", "Long code (E.164)")]))
    brand = StringField("Brand", validators=[Optional(), Length(max=80)],
                        description="With OPT_OUT_SCOPE = brand, a STOP to this sender stops this brand only")


class SenderBrandForm(FlaskForm):
    brand = StringField("Brand", validators=[Optional(), Length(max=80)])


class RegistrationForm(FlaskForm):
    country = StringField("Country", validators=[DataRequired(), Length(max=3)],
                          description="ISO code, e.g. US, DE, IN; saving a country again changes its registration")
    status = SelectField("Status", choices=choices((s, s) for s in REGISTRATION_STATUSES))
    us_10dlc_brand_id = StringField("US 10DLC brand ID", validators=[Optional(), Length(max=40)])
    us_10dlc_campaign_id = StringField("US 10DLC campaign ID", validators=[Optional(), Length(max=40)])
    dlt_entity_id = StringField("India DLT entity ID", validators=[Optional(), Length(max=40)])
    dlt_template_id = StringField("India DLT template ID", validators=[Optional(), Length(max=40)])
    notes = TextAreaField("Notes", validators=[Optional(), Length(max=2000)])


class SignupSettingsForm(FlaskForm):
    enabled = BooleanField("Public sign-up page (double opt-in)")
    sender_id = SelectField("Texts the confirmation from", coerce=int)


class SignupForm(FlaskForm):
    """The public form: CSRF on like every other (the session cookie carries the token)."""
    phone = StringField("Your mobile number", validators=[DataRequired(), Length(max=40)])


class MessageTemplateForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    kind = SelectField("Type", default="marketing", choices=choices([("marketing", "Marketing (opt-out footer where required)"),
                                                ("transactional", "Transactional (no footer)")]))
    body = TextAreaField("Message", validators=[DataRequired(), Length(max=1600)],
                         description='Placeholders: {{ first_name }}, {{ last_name }}, {{ name }}, {{ phone }}, '
                                     'custom fields; defaults: {{ first_name | default("there") }}')


class TemplatePreviewForm(FlaskForm):
    """The editor's sample-contact controls and the live preview's query (GET: no CSRF)."""

    class Meta:
        csrf = False

    sample_list = SelectField("Sample contact from list", coerce=int, default=0)
    sample_name = StringField("…or a typed sample: name", validators=[Optional(), Length(max=200)])
    sample_phone = StringField("number", validators=[Optional(), Length(max=40)])


class UserForm(FlaskForm):
    email = StringField("Email", validators=[DataRequired(), Length(max=254)])
    # The least powerful role first and by default: a slip of the mouse must not make an admin.
    role = SelectField("Role", default="compliance",
                       choices=choices([("compliance", "compliance (reads consent and reports)"),
                                        ("ops", "ops (lists, campaigns, messages)"),
                                        ("admin", "admin (everything, binds, routes, users)")]))
    password = PasswordField("Password", validators=[DataRequired(), Length(min=10, max=200)])


class ApiKeyForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=80)],
                       description="Who uses it: the application, the team")
    scopes = SelectMultipleField("Scopes", default=["send", "read"],
                                 choices=choices([("send", "send messages"), ("read", "read messages, inbound, campaigns"),
                                                  ("contacts", "contacts and consent"), ("verify", "one-time codes")]),
                                 widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
    allowed_countries = StringField("Allowed countries", validators=[Optional(), Length(max=400)],
                                    description="Geo permissions, e.g. US, CA; empty: any country the sender may reach")
    rate_limit = StringField("Rate limit", validators=[DataRequired(), Length(max=80)],
                             description="e.g. 100 per second, or 50 per second; 10000 per day")
    duplicate_window_minutes = IntegerField("Duplicate window (minutes)", default=0,
                                            validators=[NumberRange(0, 1440)],
                                            description="Same number and text again within it is refused; 0: off")
    webhook_url = StringField("Default webhook URL", validators=[Optional(), Length(max=2000)],
                              description="Status events of messages without a callback_url go here")
    inbound_webhooks = BooleanField("Also POST inbound messages (MOs) to this URL")


class EmptyForm(FlaskForm):
    """For POST buttons (pause, delete…): carries only the CSRF token."""


class ConsentSearchForm(FlaskForm):
    """A GET search: no CSRF token (it changes nothing), bound to the query string."""

    class Meta:
        csrf = False

    phone = StringField("Number", validators=[Optional(), Length(max=40)])
    scope = SelectField("List", default="")
    since = DateField("From", validators=[Optional()])
    until = DateField("To (inclusive)", validators=[Optional()])


class AuditFilterForm(FlaskForm):
    """A GET filter of the audit trail (no CSRF: it changes nothing); the export posts it."""

    class Meta:
        csrf = False

    action = SelectField("Action", default="")
    actor = StringField("Who (email)", validators=[Optional(), Length(max=254)])
    target_type = SelectField("On", default="")
    since = DateField("From", validators=[Optional()])
    until = DateField("To (inclusive)", validators=[Optional()])


class ImportUploadForm(FlaskForm):
    file = FileField("CSV file", validators=[FileRequired(), FileAllowed(["csv", "txt"], "A .csv file, please.")])
    source = SelectField("Consent source", choices=choices([("import", "Import"), ("web_form", "Web form"),
                                                           ("api", "API"), ("admin", "Admin")]))
    evidence = StringField("Consent evidence", validators=[DataRequired(), Length(max=500)],
                           description="How these people opted in, e.g. 'web form 2026-03'")


class ImportMappingForm(FlaskForm):
    phone_column = SelectField("Phone number column", coerce=int)
    name_column = SelectField("Name column", coerce=int)
    has_header = BooleanField("The first row is a header")
    extra_fields = BooleanField("Keep the other columns as custom fields", default=True)


class AlertRuleForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    kind = SelectField("When")
    threshold = FloatField("Threshold", validators=[DataRequired(message="give a number"), NumberRange(0, 1e12)],
                           description="% for rates and shares, seconds for a bind down, answers for spikes, "
                                       "an amount for cost")
    scope = SelectField("Applies to", choices=choices([("all", "everything (each bind apart where it makes sense)"),
                                                       ("bind", "one bind"), ("country", "one country"),
                                                       ("campaign", "one campaign")]))
    scope_value = StringField("Bind or campaign id, or country code", validators=[Optional(), Length(max=20)])
    window_minutes = IntegerField("Over the last (minutes)", default=15, validators=[NumberRange(1, 1440)])
    min_messages = IntegerField("Judge on at least (messages)", default=20, validators=[NumberRange(0, 1_000_000)])
    currency = StringField("Currency (cost rules)", validators=[Optional(), Length(max=3)])
    email = BooleanField("Also by e-mail")
    enabled = BooleanField("Enabled", default=True)


class BudgetForm(FlaskForm):
    currency = StringField("Currency", validators=[DataRequired(), Length(max=3)])
    amount = StringField("Monthly budget (empty removes it)", validators=[Optional(), Length(max=20)])


class LatencyTargetForm(FlaskForm):
    kind = SelectField("Message type")
    seconds = SelectField("Delivered within (s)", coerce=float)
    share = FloatField("Share (%)", validators=[DataRequired(), NumberRange(1, 100)])
