"""The OpenAPI document is the API: every endpoint is in it and nothing else, and schemathesis,
against the live app and the served document, finds no 5xx and no answer that breaks it."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from dashboard.api.core import OPERATIONS
from dashboard.models.types import utcnow
from dashboard.services import api_keys
from tests.conftest import approved_sender

# Bounded: every operation gets this many positive and negative examples (the suite's time budget).
EXAMPLES = 6


def test_the_document_names_exactly_the_api_routes_of_the_app(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"] == "3.1.0"
    served = {
        (method.upper(), f"/api/v1{path}")
        for path, ops in document["paths"].items()
        for method in ops
    }
    routed = {
        (
            method,
            "/api/v1"
            + rule.rule.removeprefix("/api/v1")
            .replace("<anyint:", "{")
            .replace("<", "{")
            .replace(">", "}"),
        )
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("api.") and rule.endpoint != "api.unknown"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert served == routed
    assert {op.endpoint for op in OPERATIONS} == {
        r.endpoint for r in app.url_map.iter_rules() if r.endpoint.startswith("api.")
    } - {"api.unknown"}


def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_document(app):
    """Every operation, with valid and with invalid data (schemathesis' positive and negative
    modes), through the app itself (WSGI), with schemathesis' default checks — no 5xx, status codes,
    content types, headers and bodies as documented, invalid data refused — but one: that any
    schema-valid request is accepted. A JSON schema cannot say which digits make a phone number,
    which sender is approved where, or which contact exists; those are refused with their own
    documented problem types (422, 404), which is the API doing its job."""
    approved_sender()
    token = api_keys.create_key(
        api_keys.KeySettings(
            name="schemathesis",
            scopes=("send", "read", "contacts", "verify"),
            rate_limit="100000 per second",
        ),
        created_by_id=None,
        now=utcnow(),
    ).token
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case):
                case.call_and_validate(
                    headers={"Authorization": f"Bearer {token}"},
                    excluded_checks=[positive_data_acceptance],
                )

            run()
        tested.append(operation.label)
    # schemathesis leaves out the document it was loaded from; the first test reads that one.
    assert sorted(tested) == sorted(
        f"{op.method} {op.path}" for op in OPERATIONS if op.path != "/openapi.json"
    )
