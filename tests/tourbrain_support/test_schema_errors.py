"""The OpenAPI schema documents every operation's error answers in the one error format, and the deployment
API's request and response bodies."""

import pytest

pytestmark = pytest.mark.django_db

ALWAYS = {"400", "401", "403", "404", "429"}
WITH_BODY = {"409", "413", "415"}
HTTP_METHODS = {"get", "post", "put", "patch", "delete", "head", "options"}


@pytest.fixture
def schema(client_as_rep):
    response = client_as_rep.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def test_every_operation_documents_its_errors_with_the_error_schema(schema):
    operations = list(_operations(schema))
    assert len(operations) >= 10  # the walk really covers the API

    for path, method, operation in operations:
        expected = ALWAYS | (WITH_BODY if method in {"post", "put", "patch", "delete"} else set())
        missing = expected - set(operation["responses"])
        assert not missing, f"{method.upper()} {path} does not document {sorted(missing)}"
        for status in expected:
            content = operation["responses"][status]["content"]["application/json"]
            assert content["schema"] == {"$ref": "#/components/schemas/Error"}, (method, path, status)
        success = [status for status in operation["responses"] if status.startswith("2")]
        assert success, f"{method.upper()} {path} documents no success answer"


def test_the_error_schema_is_the_api_error_format(schema):
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    inner = error["properties"]["error"]
    assert inner["required"] == ["code", "message", "fields"]
    assert inner["properties"]["code"]["type"] == "string"
    assert inner["properties"]["message"]["type"] == "string"
    assert inner["properties"]["fields"]["type"] == "object"


def test_deployment_api_has_request_and_response_schemas(schema):
    operation = schema["paths"]["/api/v1/audit/deployments/"]["post"]

    request_schema = operation["requestBody"]["content"]["application/json"]["schema"]
    request_component = schema["components"]["schemas"][request_schema["$ref"].rsplit("/", 1)[1]]
    assert {"version", "deployed_by"} <= set(request_component["required"])
    assert "configuration_changes" in request_component["properties"]

    response_schema = operation["responses"]["201"]["content"]["application/json"]["schema"]
    response_component = schema["components"]["schemas"][response_schema["$ref"].rsplit("/", 1)[1]]
    assert {"id", "deployment_id", "version", "occurred_at"} <= set(response_component["properties"])
    assert operation["responses"]["401"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")


def test_the_schema_generates_without_warnings():
    # Two serializers with the same component name (e.g. two nested `OutputSerializer`s) silently share one
    # schema, and one endpoint is then documented with the other's body: drf-spectacular only warns.
    from io import StringIO

    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", stdout=StringIO(), stderr=StringIO())
