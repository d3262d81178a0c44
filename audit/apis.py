"""Deployment API for CI/CD: POST /api/v1/audit/deployments/ with `Authorization: Bearer <DEPLOY_API_TOKEN>`."""

import hmac

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.models import DeploymentRecord
from audit.services import deployment_record


def _token_ok(request) -> bool:
    expected = getattr(settings, "DEPLOY_API_TOKEN", "") or ""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, presented = header.partition(" ")
    if not expected or scheme.lower() != "bearer" or not presented:
        return False
    return hmac.compare_digest(presented.strip().encode(), expected.encode())


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
        if not _token_ok(request):
            raise NotAuthenticated("A valid deployment token is required.")
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        record = deployment_record(**serializer.validated_data, source=DeploymentRecord.Source.API)
        return Response(self.OutputSerializer(record).data, status=status.HTTP_201_CREATED)
