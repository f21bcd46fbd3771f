"""Message templates: placeholders rendered per contact in a sandbox, and the opt-out footer.

A template body is Jinja text limited to what an SMS needs: `{{ placeholders }}`, filters such as
`{{ first_name | default("there") }}`, and `{% if %}`. It runs in Jinja's SandboxedEnvironment
with no globals, so `{{ ''.__class__.__mro__ }}`-style walks into Python raise instead of
rendering. Loops, macros and includes are refused at compile time: an SMS never needs them and a
nested loop is the easy way to burn a CPU. Autoescape is off — this is SMS text, not HTML; the
pages that show a preview escape it themselves.

Missing values render as the empty string (so a contact without a first name gets "Hi ," unless
the author wrote a default). The editor *reports* names that are not known contact fields as
warnings at save time (`check`), which is where a typo like `{{ frist_name }}` must be caught:
at send time one contact's missing field must not stop a 100,000-recipient campaign.

Compile once, render many: `compile_template` is cached by body, and `CompiledTemplate.render`
is the per-recipient call. No Flask, no database.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError, Undefined, meta, nodes
from jinja2.exceptions import SecurityError, TemplateError as JinjaTemplateError
from jinja2.sandbox import SandboxedEnvironment

BUILTIN_FIELDS = ("first_name", "last_name", "name", "phone")
# A rendered SMS beyond this many characters cannot be sent anyway (255 UCS-2 parts ≈ 17,000
# units); the cap keeps `{{ name * 100000 }}` from building megabytes per recipient.
MAX_RENDERED_CHARS = 5000
_FORBIDDEN_NODES = (nodes.For, nodes.Macro, nodes.CallBlock, nodes.Include, nodes.Import, nodes.FromImport,
                    nodes.Extends, nodes.Block)
_NON_IDENTIFIER = re.compile(r"[^0-9a-zA-Z_]+")
_STOP_WORD = re.compile(r"\bSTOP\b")


class TemplateError(ValueError):
    """A template that cannot be compiled or rendered; `message` is fit to show to its author."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message if line is None else f"line {line}: {message}")
        self.message = message
        self.line = line


class _SmsSandbox(SandboxedEnvironment):
    """The sandbox, stricter in two ways: an unsafe attribute raises at once (Jinja's default
    renders `{{ ''.__class__ }}` as an empty string, hiding the attempt), and `*`/`**` are
    checked so a template cannot multiply its way to a huge string or number."""

    intercepted_binops = frozenset({"*", "**"})

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} is not allowed")

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > 100:
            raise SecurityError("exponent too large")
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(count, int) \
                        and len(seq) * count > MAX_RENDERED_CHARS:
                    raise SecurityError("repeated text would be too long for an SMS")
        return super().call_binop(context, operator, left, right)


def _environment() -> SandboxedEnvironment:
    env = _SmsSandbox(autoescape=False, undefined=Undefined, keep_trailing_newline=True)
    env.globals.clear()  # no range, lipsum, cycler, namespace…: nothing an SMS needs
    return env


_ENV = _environment()


@dataclass(frozen=True)
class CompiledTemplate:
    """A parsed and compiled body; `render` is the per-recipient call."""

    body: str
    variables: frozenset[str]
    _template: Any

    def render(self, context: Mapping[str, Any]) -> str:
        """The text for one contact. Raises TemplateError on a sandbox violation or a runtime
        error (e.g. `{{ name + 1 }}`), and when the output grows past MAX_RENDERED_CHARS."""
        out: list[str] = []
        size = 0
        try:
            for piece in self._template.generate(context):
                size += len(piece)
                if size > MAX_RENDERED_CHARS:
                    raise TemplateError(f"the rendered text is longer than {MAX_RENDERED_CHARS} characters")
                out.append(piece)
        except SecurityError as exc:
            raise TemplateError(f"not allowed in a template: {exc}") from None
        except TemplateError:
            raise
        except (JinjaTemplateError, ArithmeticError, TypeError, ValueError, LookupError) as exc:
            raise TemplateError(f"cannot render: {exc}") from None
        return "".join(out)


@lru_cache(maxsize=512)
def compile_template(body: str) -> CompiledTemplate:
    """Parse and compile `body` once (cached by body). Raises TemplateError with the line number
    for a syntax error, or for a tag templates may not use (loops, macros, includes)."""
    try:
        tree = _ENV.parse(body)
    except TemplateSyntaxError as exc:
        raise TemplateError(_syntax_message(exc), exc.lineno) from None
    for node in tree.find_all(_FORBIDDEN_NODES):
        raise TemplateError(f"{_tag_name(node)} is not allowed in a message template "
                            "(use placeholders, filters and {% if %})", node.lineno)
    variables = frozenset(meta.find_undeclared_variables(tree))
    return CompiledTemplate(body=body, variables=variables, _template=_ENV.from_string(tree))


def _syntax_message(exc: TemplateSyntaxError) -> str:
    message = exc.message or "syntax error"
    if "end of template" in message and "print statement" in message:
        return "a placeholder is not closed: “{{” without its “}}”"
    if message.startswith("unexpected '}'"):
        return "a “}}” without its opening “{{”"
    return f"syntax error: {message}"


def _tag_name(node: nodes.Node) -> str:
    names = {nodes.For: "{% for %}", nodes.Macro: "{% macro %}", nodes.CallBlock: "{% call %}",
             nodes.Include: "{% include %}", nodes.Import: "{% import %}", nodes.FromImport: "{% from %}",
             nodes.Extends: "{% extends %}", nodes.Block: "{% block %}"}
    return names.get(type(node), type(node).__name__)


def render(body: str, context: Mapping[str, Any]) -> str:
    """Render `body` for one contact (see `contact_context`). Compiles once per distinct body."""
    return compile_template(body).render(context)


def field_key(name: str) -> str:
    """The placeholder name for a custom field: "Loyalty Tier" → `loyalty_tier`."""
    key = _NON_IDENTIFIER.sub("_", name.strip()).strip("_").lower()
    if not key:
        return ""
    return f"f_{key}" if key[0].isdigit() else key


def contact_context(name: str | None, phone: str, fields: Mapping[str, Any] | None) -> dict[str, Any]:
    """The values a template sees for one contact.

    `name`, `phone`, `first_name` and `last_name` (first word / the rest of `name`), and each
    custom field under `field_key(name)`; the original names stay reachable as
    `{{ fields["Loyalty Tier"] }}`. An explicit custom field `first_name`/`last_name` wins over
    the split of `name` (data beats a guess); `name` and `phone` always come from the contact.
    Empty values are left out, so `| default("there")` applies to them too.
    """
    fields = dict(fields or {})
    context: dict[str, Any] = {}
    words = (name or "").split()
    if words:
        context["first_name"] = words[0]
        if len(words) > 1:
            context["last_name"] = " ".join(words[1:])
    for raw_key, value in fields.items():
        key = field_key(str(raw_key))
        if key and _present(value):
            context[key] = value
    if (name or "").strip():
        context["name"] = name.strip()
    else:
        context.pop("name", None)
    context["phone"] = phone
    context["fields"] = {k: v for k, v in fields.items() if _present(v)}
    return context


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


@dataclass(frozen=True)
class TemplateCheck:
    """What the editor shows on save: errors block saving, warnings do not."""

    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    variables: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors


def check(body: str, known_fields: Iterable[str] = ()) -> TemplateCheck:
    """Validate a body for saving: syntax and forbidden tags are errors; a placeholder that is
    neither built in nor a known custom field is a warning (it will render empty). It is also
    rendered once with every known field filled in, so sandbox violations and runtime errors
    (`{{ ''.__class__.__mro__ }}`, `{{ name + 1 }}`) are caught here, not mid-campaign."""
    if not body.strip():
        return TemplateCheck(errors=("The message is empty.",))
    try:
        compiled = compile_template(body)
    except TemplateError as exc:
        return TemplateCheck(errors=(str(exc),))
    known = set(BUILTIN_FIELDS) | {"fields"} | {field_key(f) for f in known_fields}
    unknown = sorted(compiled.variables - known)
    warnings = tuple(f"{{{{ {name} }}}} is not a contact field: it renders empty unless you give a default"
                     for name in unknown)
    sample = {key: "Sample" for key in known if key != "fields"} | {"phone": "+12025550123", "fields": {}}
    try:
        compiled.render(sample)
    except TemplateError as exc:
        return TemplateCheck(errors=(str(exc),), warnings=warnings, variables=tuple(sorted(compiled.variables)))
    return TemplateCheck(warnings=warnings, variables=tuple(sorted(compiled.variables)))


def _as_set(value: Any) -> set[str]:
    """A config value given as "US, CA" (environment) or as a list (instance/config.py)."""
    if isinstance(value, str):
        value = value.split(",")
    return {str(v).strip().upper() for v in value or () if str(v).strip()}


def footer_required(*, sender_country_codes: Iterable[str], kind: str, config: Mapping[str, Any]) -> bool:
    """True when a message of `kind` to/from these countries must carry the opt-out footer:
    its kind is one of FOOTER_KINDS and one of the countries is in FOOTER_REQUIRED_COUNTRIES
    ("*" means everywhere)."""
    if not config.get("OPT_OUT_FOOTER", "").strip():
        return False
    if kind.lower() not in {k.lower() for k in _as_set(config.get("FOOTER_KINDS", "marketing"))}:
        return False
    required = _as_set(config.get("FOOTER_REQUIRED_COUNTRIES", ""))
    return "*" in required or bool(required & {c.upper() for c in sender_country_codes})


def footer_countries(config: Mapping[str, Any]) -> frozenset[str]:
    """The countries FOOTER_REQUIRED_COUNTRIES names; empty when it is "*" (every country)."""
    required = {c.upper() for c in _as_set(config.get("FOOTER_REQUIRED_COUNTRIES", ""))}
    return frozenset() if "*" in required else frozenset(required)


def with_opt_out_footer(text: str, *, sender_country_codes: Iterable[str], kind: str,
                        config: Mapping[str, Any]) -> str:
    """`text` with the configured OPT_OUT_FOOTER on a new line, when `footer_required`.

    Never twice: text that already says STOP (the word, in capitals) or already contains the
    footer is returned unchanged, so a template that writes its own opt-out line is respected.
    """
    footer = config.get("OPT_OUT_FOOTER", "").strip()
    if not footer_required(sender_country_codes=sender_country_codes, kind=kind, config=config):
        return text
    if _STOP_WORD.search(text) or footer.lower() in text.lower():
        return text
    body = text.rstrip()
    return f"{body}\n{footer}" if body else footer
