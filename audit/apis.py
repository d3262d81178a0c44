"""Deployment API for CI/CD, with `Authorization: Bearer <DEPLOY_API_TOKEN>`: record a deployment
(POST /api/v1/audit/deployments/) and read, set or lift the deployment freeze (/api/v1/deployments/freeze);
and Vercel's signed deployment webhook (POST /api/v1/deployments/vercel/)."""

import json

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.deployments import (
    InvalidEvent,
    deployment_freeze_current,
    deployment_freeze_lift,
    deployment_freeze_set,
    vercel_deployment_event,
)
from audit.models import DeploymentFreeze, DeploymentRecord
from audit.services import deployment_record
from tourbrain_support.api import bearer_token_matches, json_error_response, vercel_signature_matches


class DeploymentRecordApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]  # the deploy token below is the only credential

    @extend_schema_serializer(component_name="DeploymentInput")
    class InputSerializer(serializers.Serializer):
        version = serializers.CharField(max_length=100)
        deployed_by = serializers.CharField(max_length=150)
        deployment_id = serializers.CharField(max_length=64, required=False)
        rollback_available = serializers.BooleanField(default=False)
        migration_status = serializers.ChoiceField(
            choices=DeploymentRecord.MigrationStatus.values, default=DeploymentRecord.MigrationStatus.PENDING
        )
        configuration_changes = serializers.ListField(
            child=serializers.CharField(max_length=500), required=False, default=list, max_length=500
        )

    @extend_schema_serializer(component_name="Deployment")
    class OutputSerializer(serializers.ModelSerializer):
        class Meta:
            model = DeploymentRecord
            fields = [
                "id",
                "deployment_id",
                "version",
                "deployed_by",
                "rollback_available",
                "migration_status",
                "configuration_changes",
                "source",
                "occurred_at",
            ]

    def get_authenticate_header(self, request):
        return 'Bearer realm="deployments"'  # so a missing or wrong token answers 401, not 403

    @extend_schema(
        operation_id="audit_deployments_create",
        summary="Record a deployment (CI/CD)",
        description="Needs `Authorization: Bearer <DEPLOY_API_TOKEN>`; a missing or wrong token answers 401.",
        request=InputSerializer,
        responses={201: OutputSerializer},
        parameters=[
            OpenApiParameter("Authorization", str, OpenApiParameter.HEADER, description="Bearer <DEPLOY_API_TOKEN>")
        ],
    )
    def post(self, request):
        if not bearer_token_matches(request, settings.DEPLOY_API_TOKEN):
            raise NotAuthenticated("A valid deployment token is required.")
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        record = deployment_record(**serializer.validated_data, source=DeploymentRecord.Source.API)
        return Response(self.OutputSerializer(record).data, status=status.HTTP_201_CREATED)


_TOKEN_PARAMETER = OpenApiParameter(
    "Authorization", str, OpenApiParameter.HEADER, description="Bearer <DEPLOY_API_TOKEN>"
)


class DeploymentFreezeApi(APIView):
    """Whether shipping is frozen (CI asks before every deploy), and turning a freeze on or off."""

    authentication_classes: list = []
    permission_classes = [AllowAny]  # the deploy token is the only credential

    @extend_schema_serializer(component_name="DeploymentFreeze")
    class OutputSerializer(serializers.Serializer):
        frozen = serializers.BooleanField()
        reason = serializers.CharField(allow_blank=True)
        source = serializers.CharField(allow_blank=True)
        deployment_id = serializers.CharField(allow_blank=True)
        since = serializers.DateTimeField(allow_null=True)

    @extend_schema_serializer(component_name="DeploymentFreezeSet")
    class SetSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=300)

    @extend_schema_serializer(component_name="DeploymentFreezeLift")
    class LiftSerializer(serializers.Serializer):
        note = serializers.CharField(max_length=300)

    def get_authenticate_header(self, request):
        return 'Bearer realm="deployments"'

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not bearer_token_matches(request, settings.DEPLOY_API_TOKEN):
            raise NotAuthenticated("A valid deployment token is required.")

    def _answer(self, freeze: DeploymentFreeze | None, status_code: int = status.HTTP_200_OK) -> Response:
        data = {"frozen": False, "reason": "", "source": "", "deployment_id": "", "since": None}
        if freeze is not None and freeze.is_active:
            data = {
                "frozen": True,
                "reason": freeze.reason,
                "source": freeze.source,
                "deployment_id": freeze.deployment_id,
                "since": freeze.started_at,
            }
        return Response(self.OutputSerializer(data).data, status=status_code)

    @extend_schema(
        operation_id="deployments_freeze_read",
        summary="Is shipping frozen? (CI reads this before deploying)",
        responses={200: OutputSerializer},
        parameters=[_TOKEN_PARAMETER],
    )
    def get(self, request):
        return self._answer(deployment_freeze_current())

    @extend_schema(
        operation_id="deployments_freeze_set",
        summary="Turn a freeze on (a freeze already on stays as it is)",
        request=SetSerializer,
        responses={200: OutputSerializer, 201: OutputSerializer},
        parameters=[_TOKEN_PARAMETER],
    )
    def post(self, request):
        serializer = self.SetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        freeze, created = deployment_freeze_set(
            reason=serializer.validated_data["reason"], source=DeploymentFreeze.Source.API, request=request
        )
        return self._answer(freeze, status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(
        operation_id="deployments_freeze_lift",
        summary="Lift the freeze, saying why it is safe to ship",
        request=LiftSerializer,
        responses={200: OutputSerializer},
        parameters=[_TOKEN_PARAMETER],
    )
    def delete(self, request):
        serializer = self.LiftSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        deployment_freeze_lift(note=serializer.validated_data["note"], request=request)
        return self._answer(None)


# Vercel signs the raw body: HMAC-SHA1 with the webhook's secret, hex, in `x-vercel-signature`.
VERCEL_BODY_LIMIT = 1024 * 1024


@csrf_exempt
@require_POST
def vercel_deployment_webhook(request):
    secret = settings.VERCEL_WEBHOOK_SECRET
    if not secret:
        return json_error_response(
            code="not_found", message="The Vercel webhook is off (VERCEL_WEBHOOK_SECRET).", status=404
        )
    body = request.body
    if len(body) > VERCEL_BODY_LIMIT:
        return json_error_response(code="request_too_large", message="The event is too large.", status=413)
    if not vercel_signature_matches(body=body, secret=secret, signature=request.headers.get("x-vercel-signature", "")):
        return json_error_response(code="not_authenticated", message="Invalid x-vercel-signature.", status=401)
    try:
        outcome = vercel_deployment_event(json.loads(body))
    except (ValueError, InvalidEvent) as error:
        return json_error_response(code="parse_error", message=f"Not a Vercel event: {error}", status=400)
    return JsonResponse({"outcome": outcome})
