"""API base: one error format for every API error, the /me endpoint, OpenAPI 3 schema and offline docs."""

import re

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.test import Client
from django.urls import include, path
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.utils.formatting import lazy_format
from rest_framework.views import APIView

from tests.factories import MembershipFactory, OrganizationFactory
from tourbrain_support.api import ApplicationError, FlatSerializer
from tourbrain_support.models import Organization
from tourbrain_support.roles import HasRole, Role

pytestmark = pytest.mark.django_db


class EchoApi(APIView):
    class InputSerializer(serializers.Serializer):
        subject = serializers.CharField(max_length=10)
        priority = serializers.ChoiceField(choices=["low", "high"])

    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.validated_data)


class RefusingApi(APIView):
    def post(self, request):
        raise ApplicationError("A closed ticket cannot be reassigned.", code="ticket_closed", fields={"status": ["x"]})


class MissingApi(APIView):
    def get(self, request):
        raise Http404("no such ticket")


class ForbiddenApi(APIView):
    def get(self, request):
        raise PermissionDenied


class AuditorsOnlyApi(APIView):
    permission_classes = [HasRole.of(Role.AUDITOR)]

    def get(self, request):
        return Response({"ok": True})


class CrashingApi(APIView):
    def get(self, request):
        raise RuntimeError("boom")


urlpatterns = [
    path("api/test/echo/", EchoApi.as_view()),
    path("api/test/refuse/", RefusingApi.as_view()),
    path("api/test/missing/", MissingApi.as_view()),
    path("api/test/forbidden/", ForbiddenApi.as_view()),
    path("api/test/auditors/", AuditorsOnlyApi.as_view()),
    path("api/test/crash/", CrashingApi.as_view()),
    path("", include("tourbrain_support.urls")),
]
handler403 = "tourbrain_support.views.permission_denied"
handler404 = "tourbrain_support.views.page_not_found"
handler500 = "tourbrain_support.views.server_error"

use_test_urls = pytest.mark.urls(__name__)


def _error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    return body["error"]


@use_test_urls
def test_validation_error_lists_each_field(client_as_rep):
    response = client_as_rep.post("/api/test/echo/", {"subject": "x" * 11}, content_type="application/json")
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "validation_error"
    assert set(error["fields"]) == {"subject", "priority"}
    assert error["fields"]["priority"] == ["This field is required."]


@use_test_urls
def test_application_error_keeps_its_code_message_and_fields(client_as_rep):
    response = client_as_rep.post("/api/test/refuse/", {}, content_type="application/json")
    assert response.status_code == 400
    assert _error(response) == {
        "code": "ticket_closed",
        "message": "A closed ticket cannot be reassigned.",
        "fields": {"status": ["x"]},
    }


@use_test_urls
@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("/api/test/missing/", 404, "not_found"),
        ("/api/test/forbidden/", 403, "permission_denied"),
        ("/api/test/auditors/", 403, "permission_denied"),
        ("/api/v1/no-such-endpoint/", 404, "not_found"),
    ],
)
def test_not_found_and_forbidden_share_the_format(client_as_rep, url, status, code):
    response = client_as_rep.get(url)
    assert response.status_code == status
    assert _error(response)["code"] == code


@use_test_urls
def test_unauthenticated_requests_get_401(client):
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert _error(response)["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Session")


@use_test_urls
def test_unhandled_api_error_is_a_json_500(client_as_rep):
    client = Client(raise_request_exception=False)
    client.force_login(client_as_rep.user)
    response = client.get("/api/test/crash/")
    assert response.status_code == 500
    assert _error(response)["code"] == "server_error"


def test_page_404_stays_html(client_as_rep):
    response = client_as_rep.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_me_returns_roles_tier_and_organizations(client_as, django_assert_max_num_queries):
    # given a beta customer in a starter and an enterprise organization
    client = client_as(None, is_beta=True)
    MembershipFactory(user=client.user, organization=OrganizationFactory(plan=Organization.Plan.STARTER))
    MembershipFactory(user=client.user, organization=OrganizationFactory(plan=Organization.Plan.ENTERPRISE))

    # when they ask who they are
    with django_assert_max_num_queries(4):
        response = client.get("/api/v1/me/")

    # then enterprise wins and they are a customer
    assert response.status_code == 200
    body = response.json()
    assert body["email"] == client.user.email
    assert body["roles"] == []
    assert body["is_customer"] is True
    assert body["tier"] == "enterprise"
    assert [org["plan"] for org in body["organizations"]] == ["starter", "enterprise"]


def test_me_for_staff_lists_roles(client_as):
    client = client_as(Role.AUDITOR)
    body = client.get("/api/v1/me/").json()
    assert body["roles"] == ["auditor"]
    assert body["is_customer"] is False
    assert body["tier"] == "general"


def test_schema_is_openapi_3(client_as_rep):
    response = client_as_rep.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "TourBrain Support API"
    assert "/api/v1/me/" in schema["paths"]


def test_swagger_ui_uses_only_local_assets_and_they_are_served(client_as_rep):
    # given the API docs page
    response = client_as_rep.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()

    # then every script and stylesheet is served by the portal itself (works offline)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets
    for asset in assets:
        assert not re.match(r"^(https?:)?//", asset), asset
    static_assets = [asset for asset in assets if asset.startswith("/static/")]
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in static_assets)
    for asset in static_assets:
        assert client_as_rep.get(asset).status_code == 200, asset


def test_schema_describes_the_session_cookie_auth(client_as_rep):
    schema = client_as_rep.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert schema["components"]["securitySchemes"]["cookieAuth"] == {
        "type": "apiKey",
        "in": "cookie",
        "name": "sessionid",
    }
    assert {"cookieAuth": []} in schema["paths"]["/api/v1/me/"]["get"]["security"]


# --- FlatSerializer: declared fields copied one level per instance -------------------------------


class FlatFormSerializer(FlatSerializer):
    subject = serializers.CharField(max_length=10)
    priority = serializers.ChoiceField(choices=["low", "high"])
    rating = serializers.SerializerMethodField()
    tags = serializers.ListField(child=serializers.CharField(max_length=3), required=False, default=list)
    options = serializers.JSONField(required=False, default={})

    def get_rating(self, value) -> int:
        return 5


def test_flat_serializer_validates_like_a_serializer():
    valid = FlatFormSerializer(data={"subject": "Export", "priority": "low", "tags": ["pdf"]})
    invalid = FlatFormSerializer(data={"subject": "x" * 11, "priority": "urgent", "tags": ["long"]})

    assert valid.is_valid(), valid.errors
    assert valid.validated_data == {"subject": "Export", "priority": "low", "tags": ["pdf"], "options": {}}
    assert not invalid.is_valid()
    assert set(invalid.errors) == {"subject", "priority", "tags"}
    assert "no more than 10 characters" in str(invalid.errors["subject"][0])
    assert "no more than 3 characters" in str(invalid.errors["tags"][0][0])


def test_flat_serializer_instances_bind_fields_of_their_own():
    first, second = FlatFormSerializer(data={}), FlatFormSerializer(data={})

    for name in ("subject", "priority", "rating", "tags"):
        assert first.fields[name] is not second.fields[name]
        assert first.fields[name].parent is first
        assert second.fields[name].parent is second
        assert FlatFormSerializer._declared_fields[name].parent is None  # the declaration itself stays unbound
    assert first.fields["rating"].method_name == "get_rating"
    # A field holding fields (the list's child) is deep-copied, so its child belongs to this instance.
    assert first.fields["tags"].child is not second.fields["tags"].child
    assert first.fields["tags"].child.parent is first.fields["tags"]
    assert first.fields["tags"].child.root is first
    # so is a field with a mutable default: changing one instance's cannot reach the next request's
    assert first.fields["options"].default is not second.fields["options"].default


def test_flat_serializer_messages_are_rendered_before_instances_share_them():
    # DRF renders a length message on first use and then drops its parts: never twice at once on shared ones
    FlatFormSerializer(data={}).fields  # noqa: B018 (building the fields is the point)

    subject = FlatFormSerializer._declared_fields["subject"]
    messages = [validator.message for validator in subject.validators if isinstance(validator.message, lazy_format)]
    assert messages
    assert all(message.format_string is None for message in messages)  # rendered: nothing left to format
    assert "no more than 10 characters" in str(messages[0])


def test_flat_serializer_shares_no_state_between_requests():
    rejected = FlatFormSerializer(data={"subject": "x" * 11, "priority": "low"})
    assert not rejected.is_valid()

    accepted = FlatFormSerializer(data={"subject": "Export", "priority": "high"}, context={"request": "second"})

    assert accepted.is_valid(), accepted.errors
    assert accepted.fields["subject"].context == {"request": "second"}
    assert rejected.fields["subject"].context == {}
    assert FlatFormSerializer(instance={"subject": "Export", "priority": "low"}).data == {
        "subject": "Export",
        "priority": "low",
        "rating": 5,
        "tags": [],
        "options": {},
    }
