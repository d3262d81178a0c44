"""Schema fuzzing: schemathesis walks the live OpenAPI schema (/api/schema/) and sends generated requests,
valid and invalid, to every operation as a support rep, a support lead, a customer and anonymous.

Each answer must be no 5xx, a status the operation documents, and a body matching its documented schema.
New endpoints are covered as soon as they are in the schema. CI runs a few cases per operation and role
(FUZZ_MAX_EXAMPLES, default 5); `make fuzz` runs thousands.
"""

import os
import secrets

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, connection
from django.test import Client
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.tickets.factories import TicketFactory
from tourbrain_support.roles import Role

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "5"))
FUZZ_PHASES = os.environ.get("FUZZ_PHASES", "examples,fuzzing").split(",")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
CUSTOMER, ANONYMOUS = "customer", "anonymous"


def _refuse_queries(execute, sql, params, many, context):
    raise AssertionError(f"the schema is loaded at collection, before the test database exists: {sql}")


# Loaded when the module is collected (schemathesis makes a test per operation), before pytest-django points
# the connection at the test database: the schema view must not touch a database (anonymous, no session).
with connection.execute_wrapper(_refuse_queries):
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
# The coverage phase sends every boundary case the schema allows (hundreds per operation): `make fuzz` only.
schema.config.phases.update(phases=FUZZ_PHASES)


@pytest.fixture(autouse=True)
def connection_kept_across_requests():
    """Schemathesis calls the real WSGI handler, which closes the database connection after each request
    (`close_old_connections`); inside the test's transaction that ends it (PostgreSQL: "the connection is
    closed"). Django's own test client disconnects it for the request the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def sessions(make_user) -> dict[str, dict]:
    """Cookies and headers per role: a signed-in session with a CSRF token, nothing for anonymous."""
    from tickets.sla_defaults import ensure_defaults

    ensure_defaults()
    TicketFactory()
    credentials = {ANONYMOUS: {"cookies": {}, "headers": {}}}
    for role in (Role.SUPPORT_REP, Role.SUPPORT_LEAD, CUSTOMER):
        client = Client()
        client.force_login(make_user(None if role == CUSTOMER else role))
        csrf = secrets.token_hex(16)  # a 32-character secret: Django accepts it unmasked in the header
        credentials[role] = {
            "cookies": {"sessionid": client.cookies["sessionid"].value, "csrftoken": csrf},
            "headers": {"X-CSRFToken": csrf},
        }
    return credentials


def test_the_fuzzing_sessions_are_signed_in(sessions):
    me = schema["/api/v1/me/"]["GET"]
    statuses = {role: me.Case().call(**credentials).status_code for role, credentials in sessions.items()}
    assert statuses == {Role.SUPPORT_REP: 200, Role.SUPPORT_LEAD: 200, CUSTOMER: 200, ANONYMOUS: 401}


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_within_its_schema(case, sessions):
    # Every generated request is sent once per role.
    for credentials in sessions.values():
        case.call_and_validate(checks=CHECKS, **credentials)
