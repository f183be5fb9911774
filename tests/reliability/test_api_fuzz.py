"""Hostile input through the whole API: schemathesis generates requests from /api/schema/ and none may
end in a 5xx or in a response that contradicts the schema."""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

# The resources a tenant reads and writes every day; each gets the same bounded, seeded budget of examples.
MAIN_PREFIXES = (
    "/api/v1/assets", "/api/v1/datasets", "/api/v1/runs", "/api/v1/profiles", "/api/v1/frameworks",
    "/api/v1/controls", "/api/v1/evidence", "/api/v1/control-status", "/api/v1/reports", "/api/v1/alerts",
    "/api/v1/channels", "/api/v1/schedules", "/api/v1/baselines", "/api/v1/audit-events", "/api/v1/tokens",
    "/api/v1/organizations", "/api/v1/screening",
)
EXAMPLES_PER_OPERATION = 12
# Undocumented 4xx statuses (a filter's 400, a detail's 404) are not checked: DRF answers them on every route
# and the schema does not list them; every documented response must match its schema.
CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]


def _api_schema(client) -> dict:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return json.loads(response.content)


@pytest.fixture
def token_headers(organization, owner):
    from riskapp.accounts.services import api_token_create

    _token, raw = api_token_create(user=owner, organization=organization, name="fuzz")
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture
def some_rows(organization, owner):
    # Low ids that exist give the generated path parameters something real to hit besides 404s.
    from tests.factories import MODEL_FACTORIES

    from riskapp.assessments.models import AssessmentRun
    from riskapp.monitoring.models import Channel

    for model in (AssessmentRun, Channel):
        MODEL_FACTORIES[model](organization, owner)


@contextmanager
def wsgi_in_test_transaction():
    # Like Django's test client: the app must not close the test's connection (and its transaction) per request.
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_generated_requests_get_no_server_error_and_match_the_schema(client, owner, token_headers, some_rows):
    from riskapp.wsgi import application

    client.force_login(owner)
    schema = schemathesis.openapi.from_dict(_api_schema(client))
    schema.app = application
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if op.path.startswith(MAIN_PREFIXES)]
    assert len(operations) > 30, [op.label for op in operations]
    failures: list[str] = []

    for operation in operations:
        @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def exercise(case):
            response = case.call(headers=token_headers)
            case.validate_response(response, checks=CHECKS)

        try:
            with wsgi_in_test_transaction():
                exercise()
        except BaseException as exc:  # schemathesis raises a BaseExceptionGroup; collect every operation's
            if isinstance(exc, KeyboardInterrupt):  # failures, then report them together
                raise
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
