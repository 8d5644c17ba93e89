"""schemathesis drives the whole OpenAPI schema with generated requests, signed in by a staff
publish token: no answer is a 500, and every answer matches the schema."""

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from config.wsgi import application
from distribution.api_tokens import issue_api_token
from distribution.models import ApiToken
from tests.factories import UserFactory

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture
def staff_token(db) -> str:
    return issue_api_token(UserFactory(is_staff=True), name="fuzz", scope=ApiToken.Scope.PUBLISH)[1]


@pytest.fixture(autouse=True)
def keep_the_tests_connection():
    """The WSGI handler closes the database connection around each request, which would end the
    test's transaction: Django's test client stops it the same way."""
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_answers_generated_requests_as_its_schema_says(case, staff_token):
    # Every check but one: publishing's rules go beyond what a schema can say (a path's
    # parts, two files at one path, the quota, an existing version), so a request the
    # schema allows may rightly be refused, with a 400 that says why.
    case.call_and_validate(
        headers={"Authorization": f"Bearer {staff_token}"}, excluded_checks=[positive_data_acceptance]
    )


@pytest.mark.parametrize(
    "path",
    [
        "/?q=a%00b",
        "/?product=atlas%00",
        "/?tag=%00",
        "/api/releases/?q=%00",
        "/api/releases/?product=%00&tag=%00&info_hash=%00",
        "/api/products/a%00/",
        "/feeds/a%00/",
    ],
)
def test_a_nul_character_in_a_filter_is_no_server_error(client, db, path):
    assert client.get(path).status_code in (200, 404)
