"""Message templates: placeholders rendered per contact in a sandbox, and the opt-out footer.

A template body is Jinja text limited to what an SMS needs: `{{ placeholders }}`, filters such as
`{{ first_name | default("there") }}`, and `{% if %}`. It runs in Jinja's SandboxedEnvironment
with no globals, so `{{ ''.__class__.__mro__ }}`-style walks into Python raise instead of
rendering. Loops, macros, includes and `{% set %}` are refused at compile time: an SMS never
needs them, and a loop or a value reused through `set` is the easy way to burn a CPU. Every
intermediate value is bounded before it is computed (text and lists to MAX_RENDERED_CHARS,
numbers to MAX_INT_BITS), only a short list of filters and string methods exists, and each
render has a wall-clock budget (RENDER_SECONDS) checked between operations: without loops and
with each operation bounded, a template cannot stall the web process or the sender. Autoescape
is off — this is SMS text, not HTML; the pages that show a preview escape it themselves.

Missing values render as the empty string (so a contact without a first name gets "Hi ," unless
the author wrote a default). The editor *reports* names that are not known contact fields as
warnings at save time (`check`), which is where a typo like `{{ frist_name }}` must be caught:
at send time one contact's missing field must not stop a 100,000-recipient campaign.

Compile once, render many: `compile_template` is cached by body, and `CompiledTemplate.render`
is the per-recipient call. No Flask, no database.
"""
from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError, Undefined, filters, meta, nodes
from jinja2.compiler import CodeGenerator
from jinja2.exceptions import SecurityError, TemplateError as JinjaTemplateError
from jinja2.sandbox import SandboxedEnvironment

BUILTIN_FIELDS = ("first_name", "last_name", "name", "phone")
# A rendered SMS beyond this many characters cannot be sent anyway (255 UCS-2 parts ≈ 17,000
# units); the cap keeps `{{ name * 100000 }}` from building megabytes per recipient. It bounds
# every intermediate string, list and concatenation too, not only the output.
MAX_RENDERED_CHARS = 5000
# Integers a template computes stay below 2**128: an SMS needs no bigger number, and one big-int
# operation (`(10**100)**100`) holds the GIL for seconds, which no time-out can interrupt.
MAX_INT_BITS = 128
# Wall-clock budget of one render. With every operation bounded above, a template of at most
# 1,600 characters and no loops renders in well under a millisecond; the budget is the backstop
# checked between operations, so no template can hold the web process or the sender.
RENDER_SECONDS = 0.05
_FORBIDDEN_NODES = (nodes.For, nodes.Macro, nodes.CallBlock, nodes.Include, nodes.Import, nodes.FromImport,
                    nodes.Extends, nodes.Block, nodes.Assign, nodes.AssignBlock, nodes.FilterBlock, nodes.With,
                    nodes.Scope, nodes.ScopedEvalContextModifier, nodes.EvalContextModifier)
_NON_IDENTIFIER = re.compile(r"[^0-9a-zA-Z_]+")
_STOP_WORD = re.compile(r"\bSTOP\b")
_deadline: ContextVar[float] = ContextVar("template_deadline", default=float("inf"))


class TemplateError(ValueError):
    """A template that cannot be compiled or rendered; `message` is fit to show to its author."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message if line is None else f"line {line}: {message}")
        self.message = message
        self.line = line


class _TooBig(SecurityError):
    """An intermediate value over the bounds: refused before it is built."""


def _bounded(value: Any) -> Any:
    """`value`, if it is within the bounds every intermediate value must keep (and the render is
    within its time budget); raises _TooBig otherwise."""
    if time.monotonic() > _deadline.get():
        raise _TooBig(f"the template takes longer than {RENDER_SECONDS * 1000:g} ms to render")
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise _TooBig("a number in the template is too large")
    if isinstance(value, (str, list, tuple, dict)) and len(value) > MAX_RENDERED_CHARS:
        raise _TooBig(f"a value in the template would be longer than {MAX_RENDERED_CHARS} characters")
    return value


def _predicted_size(operator: str, left: Any, right: Any) -> None:
    """Refuse an operation whose result would break the bounds, before Python computes it: the
    computation itself is what stalls (a big power, a big repetition)."""
    if operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
        if max(left.bit_length(), 1) * right > MAX_INT_BITS * 2 and abs(left) > 1:
            raise _TooBig("a number in the template is too large")
    if operator == "*":
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and isinstance(count, int) \
                    and len(seq) * count > MAX_RENDERED_CHARS:
                raise _TooBig("repeated text would be too long for an SMS")
        if isinstance(left, int) and isinstance(right, int) \
                and left.bit_length() + right.bit_length() > MAX_INT_BITS * 2:
            raise _TooBig("a number in the template is too large")
    if operator == "%" and isinstance(left, str):
        # printf-style formatting takes a width from the template ('%9999999d'): placeholders do it.
        raise SecurityError("% formatting of text; write placeholders instead")
    if operator in ("+", "~") and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)) \
            and len(left) + len(right) > MAX_RENDERED_CHARS:
        raise _TooBig(f"a value in the template would be longer than {MAX_RENDERED_CHARS} characters")


# The string methods a template may call, with nothing that takes a width or a count from the
# template (ljust, center, zfill, expandtabs, format…): each of those can build gigabytes.
_SAFE_METHODS = {
    str: frozenset({"upper", "lower", "title", "capitalize", "casefold", "swapcase", "strip", "lstrip", "rstrip",
                    "startswith", "endswith", "replace", "split", "rsplit", "splitlines", "count", "find", "rfind",
                    "removeprefix", "removesuffix", "isdigit", "isalpha", "isalnum", "isupper", "islower",
                    "isspace", "istitle", "isnumeric", "isdecimal"}),
    dict: frozenset({"get", "keys", "values", "items"}),
    list: frozenset({"index", "count"}),
    tuple: frozenset({"index", "count"}),
}


def _check_replace(text: str, old: Any, new: Any, count: Any = -1) -> None:
    if isinstance(old, str) and isinstance(new, str):
        occurrences = text.count(old) if old else len(text) + 1
        if isinstance(count, int) and count >= 0:
            occurrences = min(occurrences, count)
        if len(text) + occurrences * (len(new) - len(old)) > MAX_RENDERED_CHARS:
            raise _TooBig(f"a value in the template would be longer than {MAX_RENDERED_CHARS} characters")


def _replace_filter(value: Any, old: Any, new: Any, count: Any = None) -> str:
    text = str(value)
    _check_replace(text, str(old), str(new), -1 if count is None else count)
    return text.replace(str(old), str(new), -1 if count is None else count)


def _join_filter(value: Any, separator: str = "") -> str:
    items = [str(item) for item in _bounded(list(value) if not isinstance(value, str) else value)]
    if sum(map(len, items)) + len(separator) * max(len(items) - 1, 0) > MAX_RENDERED_CHARS:
        raise _TooBig(f"a value in the template would be longer than {MAX_RENDERED_CHARS} characters")
    return separator.join(items)


def _truncate_filter(value: Any, length: int = 255, killwords: bool = False, end: str = "...",
                     leeway: int = 0) -> str:
    text = str(value)
    if not isinstance(length, int) or length < len(end):
        raise SecurityError("truncate needs a length longer than its ending")
    if len(text) <= length:
        return text
    cut = text[:length - len(end)]
    if not killwords:
        cut = cut.rsplit(" ", 1)[0] or cut
    return cut + end


_FILTERS = {
    # What an SMS template needs, each cheap and bounded by its input; anything else (center,
    # indent, format, wordwrap, batch, attr, map…) is an unknown filter, refused when compiling.
    "default": filters.do_default, "d": filters.do_default, "lower": filters.do_lower, "upper": filters.do_upper,
    "title": filters.do_title, "capitalize": filters.do_capitalize, "trim": filters.do_trim,
    "first": filters.do_first, "last": filters.do_last, "length": len, "count": len,
    "int": filters.do_int, "float": filters.do_float, "round": filters.do_round, "abs": abs,
    "string": str, "wordcount": filters.do_wordcount, "reverse": filters.do_reverse,
    "replace": _replace_filter, "join": _join_filter, "truncate": _truncate_filter,
}


class _BoundedCodeGenerator(CodeGenerator):
    """Jinja compiles `a ~ b` into a plain join that no sandbox hook sees; route it through the
    environment so the concatenation is bounded like every other operation."""

    def visit_Concat(self, node: nodes.Concat, frame) -> None:
        self.write("environment.bounded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _SmsSandbox(SandboxedEnvironment):
    """The sandbox, stricter: an unsafe attribute raises at once (Jinja's default renders
    `{{ ''.__class__ }}` as an empty string, hiding the attempt); every arithmetic operation,
    concatenation, filter and method call is bounded in size before it runs, only a short list
    of filters and methods exists, and the whole render has a time budget (RENDER_SECONDS)."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})
    intercepted_unops = frozenset({"-", "+"})

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} is not allowed")

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        _bounded(left), _bounded(right)
        _predicted_size(operator, left, right)
        return _bounded(super().call_binop(context, operator, left, right))

    def call_unop(self, context, operator: str, arg: Any) -> Any:
        return _bounded(super().call_unop(context, operator, _bounded(arg)))

    def getattr(self, obj: Any, attribute: str) -> Any:
        return _bounded(super().getattr(obj, attribute))

    def getitem(self, obj: Any, argument: Any) -> Any:
        return _bounded(super().getitem(obj, argument))

    def call(__self, __context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (Jinja's signature)
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        allowed = next((names for kind, names in _SAFE_METHODS.items() if isinstance(owner, kind)), frozenset())
        if name not in allowed:
            raise SecurityError(f"calling {name or type(__obj).__name__!r} is not allowed in a message template")
        for value in (*args, *kwargs.values()):
            _bounded(value)
        if isinstance(owner, str) and name == "replace" and len(args) >= 2:
            _check_replace(owner, *args[:3])
        return _bounded(super().call(__context, __obj, *args, **kwargs))

    def bounded_concat(self, values: tuple) -> str:
        pieces = [str(_bounded(value)) for value in values]
        if sum(map(len, pieces)) > MAX_RENDERED_CHARS:
            raise _TooBig(f"a value in the template would be longer than {MAX_RENDERED_CHARS} characters")
        return "".join(pieces)


def _bounded_filter(function):
    def bounded(*args, **kwargs):
        for value in (*args, *kwargs.values()):
            if not isinstance(value, Undefined):
                _bounded(value)
        return _bounded(function(*args, **kwargs))
    return bounded


def _environment() -> SandboxedEnvironment:
    env = _SmsSandbox(autoescape=False, undefined=Undefined, keep_trailing_newline=True)
    env.globals.clear()  # no range, lipsum, cycler, namespace…: nothing an SMS needs
    env.filters = {name: _bounded_filter(function) for name, function in _FILTERS.items()}
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
        error (e.g. `{{ name + 1 }}`), when a value (the output or any intermediate) grows past
        MAX_RENDERED_CHARS or MAX_INT_BITS, and when rendering takes over RENDER_SECONDS."""
        out: list[str] = []
        size = 0
        token = _deadline.set(time.monotonic() + RENDER_SECONDS)
        try:
            for piece in self._template.generate(context):
                size += len(piece)
                if size > MAX_RENDERED_CHARS:
                    raise TemplateError(f"the rendered text is longer than {MAX_RENDERED_CHARS} characters")
                out.append(piece)
        except _TooBig as exc:
            raise TemplateError(str(exc)) from None
        except SecurityError as exc:
            raise TemplateError(f"not allowed in a template: {exc}") from None
        except TemplateError:
            raise
        except (JinjaTemplateError, ArithmeticError, TypeError, ValueError, LookupError, RecursionError) as exc:
            raise TemplateError(f"cannot render: {exc}") from None
        finally:
            _deadline.reset(token)
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
        # {% set %} is refused with the loops: a value named once and used twice is how a
        # template doubles its size at every line.
        raise TemplateError(f"{_tag_name(node)} is not allowed in a message template "
                            "(use placeholders, filters and {% if %})", node.lineno)
    try:
        variables = frozenset(meta.find_undeclared_variables(tree))
        template = _ENV.from_string(tree)
    except TemplateSyntaxError as exc:  # an unknown filter or test is found when compiling
        raise TemplateError(_syntax_message(exc), exc.lineno) from None
    return CompiledTemplate(body=body, variables=variables, _template=template)


def _syntax_message(exc: TemplateSyntaxError) -> str:
    message = exc.message or "syntax error"
    if "end of template" in message and "print statement" in message:
        return "a placeholder is not closed: “{{” without its “}}”"
    if message.startswith("unexpected '}'"):
        return "a “}}” without its opening “{{”"
    unknown = re.match(r"No (filter|test) named '([^']*)'", message)
    if unknown:
        return f"the {unknown.group(1)} “{unknown.group(2)}” is not allowed in message templates"
    return f"syntax error: {message}"


def _tag_name(node: nodes.Node) -> str:
    names = {nodes.For: "{% for %}", nodes.Macro: "{% macro %}", nodes.CallBlock: "{% call %}",
             nodes.Include: "{% include %}", nodes.Import: "{% import %}", nodes.FromImport: "{% from %}",
             nodes.Extends: "{% extends %}", nodes.Block: "{% block %}", nodes.Assign: "{% set %}",
             nodes.AssignBlock: "{% set %}", nodes.FilterBlock: "{% filter %}", nodes.With: "{% with %}"}
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


# The settings footer_required and with_opt_out_footer read from their `config` mapping.
FOOTER_SETTINGS = ("OPT_OUT_FOOTER", "FOOTER_REQUIRED_COUNTRIES", "FOOTER_KINDS")


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
