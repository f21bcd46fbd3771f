"""Message templates: placeholders, defaults, custom fields, the sandbox, the opt-out footer."""
from __future__ import annotations

import time

import pytest

from dashboard.sms import templating
from dashboard.sms.templating import (TemplateError, check, compile_template, contact_context, field_key, render,
                                      with_opt_out_footer)

FOOTER_CONFIG = {"OPT_OUT_FOOTER": "Reply STOP to opt out", "FOOTER_REQUIRED_COUNTRIES": "US, CA, FR, GB",
                 "FOOTER_KINDS": "marketing"}


def test_it_fills_first_name_and_phone_from_the_contact():
    context = contact_context("Ada Lovelace", "+12025550101", {})
    assert render("Hi {{ first_name }} ({{ last_name }}), this is for {{ phone }}", context) == \
        "Hi Ada (Lovelace), this is for +12025550101"


def test_a_default_applies_when_the_contact_has_no_name():
    body = 'Hi {{ first_name | default("there") }}!'
    assert render(body, contact_context("", "+12025550101", {})) == "Hi there!"
    assert render(body, contact_context("Grace Hopper", "+12025550101", {})) == "Hi Grace!"


def test_a_missing_value_without_a_default_renders_empty():
    assert render("Hi {{ first_name }}!", contact_context(None, "+12025550101", {})) == "Hi !"


def test_custom_fields_are_placeholders_under_an_identifier_name():
    context = contact_context("Ada", "+12025550101", {"Loyalty Tier": "gold", "city": "Paris", "empty": " "})
    assert render("{{ loyalty_tier }} in {{ city }}", context) == "gold in Paris"
    assert render('{{ fields["Loyalty Tier"] }}', context) == "gold"
    # An empty field counts as missing, so its default applies.
    assert render('{{ empty | default("n/a") }}', context) == "n/a"


def test_an_explicit_first_name_field_beats_splitting_the_name():
    context = contact_context("Dr Ada Lovelace", "+12025550101", {"first_name": "Ada"})
    assert render("{{ first_name }}", context) == "Ada"
    assert render("{{ name }}", context) == "Dr Ada Lovelace"


def test_a_field_cannot_replace_the_contacts_phone():
    context = contact_context("Ada", "+12025550101", {"phone": "+19999999999"})
    assert render("{{ phone }}", context) == "+12025550101"


@pytest.mark.parametrize("name, key", [("Loyalty Tier", "loyalty_tier"), ("e-mail", "e_mail"),
                                       ("2024 spend", "f_2024_spend"), ("  ", "")])
def test_field_names_become_identifiers(name, key):
    assert field_key(name) == key


@pytest.mark.parametrize("body", [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ first_name.__init__.__globals__ }}",
    "{{ first_name|attr('__class__') }}",
    "{{ '{0.__class__}'.format(first_name) }}",
])
def test_the_sandbox_refuses_python_internals(body):
    with pytest.raises(TemplateError, match="not allowed"):
        render(body, contact_context("Ada", "+12025550101", {}))


def test_the_sandbox_has_no_globals_to_reach_for():
    assert render("{{ range }}{{ lipsum }}{{ cycler }}", {}) == ""


def test_a_huge_repetition_is_refused():
    with pytest.raises(TemplateError, match="too long"):
        render("{{ first_name * 100000 }}", contact_context("Ada", "+1", {}))


def test_autoescape_is_off_because_sms_is_not_html():
    assert render("{{ name }}", contact_context("Tom & Jerry <3", "+1", {})) == "Tom & Jerry <3"


def test_an_unclosed_placeholder_is_a_clear_error_with_its_line():
    with pytest.raises(TemplateError) as info:
        compile_template("Hello\n{{ first_name ")
    assert info.value.line == 2
    assert "not closed" in str(info.value) and "line 2" in str(info.value)


def test_loops_are_refused_at_compile_time():
    with pytest.raises(TemplateError, match=r"\{% for %\} is not allowed"):
        compile_template("{% for c in name %}{{ c }}{% endfor %}")


def test_if_blocks_are_allowed():
    body = "{% if first_name %}Hi {{ first_name }}{% else %}Hello{% endif %}"
    assert render(body, contact_context("", "+1", {})) == "Hello"
    assert render(body, contact_context("Ada", "+1", {})) == "Hi Ada"


def test_compiling_is_cached_by_body():
    assert compile_template("Hi {{ name }}") is compile_template("Hi {{ name }}")


def test_check_warns_about_names_that_are_not_contact_fields():
    result = check("Hi {{ frist_name }}, your tier: {{ tier }}", known_fields=["Tier"])
    assert result.ok
    assert result.warnings == ("{{ frist_name }} is not a contact field: it renders empty unless you give a default",)
    assert result.variables == ("frist_name", "tier")


def test_check_reports_a_syntax_error_as_an_error():
    result = check("Hi {{ first_name }")
    assert not result.ok
    assert result.errors[0].startswith("line 1:")


def test_check_catches_sandbox_violations_before_a_campaign_does():
    result = check("{{ ''.__class__.__mro__ }}")
    assert not result.ok and "not allowed" in result.errors[0]


def test_check_catches_runtime_errors_with_sample_values():
    result = check("{{ name + 1 }}")
    assert not result.ok and result.errors[0].startswith("cannot render")


def test_check_refuses_an_empty_body():
    assert check("   ").errors == ("The message is empty.",)


def test_the_footer_is_added_to_marketing_for_a_country_that_requires_it():
    text = with_opt_out_footer("Sale today", sender_country_codes=["US"], kind="marketing", config=FOOTER_CONFIG)
    assert text == "Sale today\nReply STOP to opt out"


def test_no_footer_for_transactional_messages():
    assert with_opt_out_footer("Your code is 1234", sender_country_codes=["US"], kind="transactional",
                               config=FOOTER_CONFIG) == "Your code is 1234"


def test_no_footer_for_a_country_that_does_not_require_it():
    assert with_opt_out_footer("Sale", sender_country_codes=["DE"], kind="marketing",
                               config=FOOTER_CONFIG) == "Sale"


def test_a_star_requires_the_footer_everywhere():
    config = FOOTER_CONFIG | {"FOOTER_REQUIRED_COUNTRIES": "*"}
    assert with_opt_out_footer("Sale", sender_country_codes=["DE"], kind="marketing",
                               config=config).endswith("Reply STOP to opt out")


def test_a_list_of_countries_from_instance_config_works_like_the_environment_string():
    config = FOOTER_CONFIG | {"FOOTER_REQUIRED_COUNTRIES": ["fr"]}
    assert with_opt_out_footer("Soldes", sender_country_codes=["FR"], kind="marketing",
                               config=config) == "Soldes\nReply STOP to opt out"


@pytest.mark.parametrize("text", ["Sale! Text STOP to 12345 to end", "Sale\nreply stop to opt out"])
def test_the_footer_is_never_added_twice(text):
    assert with_opt_out_footer(text, sender_country_codes=["US"], kind="marketing", config=FOOTER_CONFIG) == text


def test_stop_as_an_ordinary_word_does_not_count_as_an_opt_out_line():
    text = with_opt_out_footer("Don't stop now", sender_country_codes=["US"], kind="marketing",
                               config=FOOTER_CONFIG)
    assert text.endswith("\nReply STOP to opt out")


def test_an_empty_footer_setting_turns_the_footer_off():
    config = FOOTER_CONFIG | {"OPT_OUT_FOOTER": ""}
    assert with_opt_out_footer("Sale", sender_country_codes=["US"], kind="marketing", config=config) == "Sale"


def test_rendering_stops_when_the_output_grows_too_long(monkeypatch):
    monkeypatch.setattr(templating, "MAX_RENDERED_CHARS", 10)
    with pytest.raises(TemplateError, match="longer than 10"):
        render("{{ name }}{{ name }}", contact_context("Abcdefgh", "+1", {}))


# ----------------------------------------------------------------------------- bounded rendering (issue 11, defect 1)

ADA = contact_context("Ada Lovelace", "+12025550101", {"city": "Paris"})


@pytest.mark.parametrize("body", [
    "{{ (((10**100)**100)**100)**10 }}",  # held the GIL for 12 s: each power is refused before it is computed
    "{{ 10**100 }}",
    "{{ (2**100) * (2**100) }}",
    "{{ -(2**127) - 2**127 }}",
    "{{ name|center(10000000) }}",  # built 10 MB strings before the output cap applied
    "{{ '%10000000d'|format(1) }}",
    "{{ '%10000000d' % 1 }}",
    "{{ name.ljust(100000000) }}",
    "{{ name.zfill(100000000) }}",
    "{{ '{:>100000000}'.format(1) }}",
    "{{ name|indent(100000000) }}",
    "{{ name|wordwrap(100000000) }}",
    "{{ name.replace('', 'x' * 4000) }}",
    "{{ name|replace('', 'x' * 4000) }}",
    "{{ (name * 400) ~ (name * 400) }}",
    "{{ [name] * 100000 }}",
    "{% set a = name ~ name %}{% set b = a ~ a %}{{ b ~ b }}",
    "{% with a = name * 400 %}{{ a ~ a }}{% endwith %}",
])
def test_a_template_that_would_build_a_huge_value_is_refused_quickly(body):
    started = time.perf_counter()
    with pytest.raises(TemplateError):
        render(body, ADA)
    assert time.perf_counter() - started < 0.05


def test_every_intermediate_value_is_bounded_not_only_the_output():
    # The output would be short (length is a number), but the string it measures is refused.
    with pytest.raises(TemplateError, match="longer than 5000"):
        render("{{ ((name * 400) ~ (name * 400))|length }}", ADA)


def test_a_render_over_its_time_budget_stops_with_a_clear_error(monkeypatch):
    monkeypatch.setattr(templating, "RENDER_SECONDS", -1.0)  # every check is already past the deadline
    with pytest.raises(TemplateError, match="takes longer than"):
        render("{{ name.upper() }}", ADA)


def test_the_filters_and_methods_an_sms_needs_still_work():
    body = ("{{ first_name|default('there')|upper }} {{ city|lower }} {{ name|replace('Ada', 'A.') }} "
            "{{ name.split()|join('-') }} {{ name|truncate(9, true, '…') }} {{ 2 ** 10 }} {{ 7 // 2 }}")
    assert render(body, ADA) == "ADA paris A. Lovelace Ada-Lovelace Ada Love… 1024 3"


def test_check_refuses_what_rendering_would_refuse():
    result = check("{{ (((10**100)**100)**100)**10 }}")
    assert not result.ok and "too large" in result.errors[0]
