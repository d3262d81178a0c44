"""Native events API: POST /api/v1/kpis/events/ with a project API key as Bearer token.
Each item is checked on its own: the answer lists the refused ones by index with a reason, the rest are stored.

OpenAI usage samples: POST /api/v1/kpis/openai-usage/ with the KPI_HEALTH_API_TOKEN as Bearer token (a server
secret, unlike project keys, which browsers carry).
"""

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from kpis.authentication import ProjectApiKeyAuthentication
from kpis.health import openai_usage_record
from kpis.ingestion import CaptureError, check_batch_size, events_ingest
from tourbrain_support.api import ApplicationError, bearer_token_matches


class EventsIngestApi(APIView):
    authentication_classes = [ProjectApiKeyAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = []

    @extend_schema_serializer(component_name="KpiEventsBatch")
    class InputSerializer(serializers.Serializer):
        events = serializers.ListField(child=serializers.JSONField(), allow_empty=False)

    class ErrorSerializer(serializers.Serializer):
        index = serializers.IntegerField()
        code = serializers.CharField()
        message = serializers.CharField()
        fields = serializers.DictField()

    @extend_schema_serializer(component_name="KpiEventsIngested")
    class OutputSerializer(serializers.Serializer):
        received = serializers.IntegerField(help_text="Events accepted (a uuid already stored is not stored again).")
        rejected = serializers.IntegerField()
        errors = serializers.ListField(child=serializers.DictField())

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request):
        if len(request.body) > settings.KPI_MAX_BODY_BYTES:
            raise ApplicationError("The body is too large.", code="request_too_large", status=413)
        # Checked by hand: a serializer field per item costs more than storing the event (the schema above is for
        # the API documentation); each item is checked by events_ingest.
        data = request.data
        items = data.get("events") if isinstance(data, dict) else None
        if not isinstance(items, list) or not items:
            raise ApplicationError(
                "The body must be an object with a non-empty `events` list.",
                code="invalid",
                fields={"events": ["A non-empty list of events is required."]},
            )
        try:
            check_batch_size(items)
        except CaptureError as error:
            raise ApplicationError(error.message, code=error.code, status=error.status) from error
        result = events_ingest(items=items, require_uuid=True)
        return Response({"received": result.received, "rejected": len(result.errors), "errors": result.errors})


class OpenAIUsageApi(APIView):
    """TourBrain's backend reports its OpenAI usage here (e.g. once a minute per model)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]  # the health token below is the only credential
    throttle_classes = []

    class SampleSerializer(serializers.Serializer):
        id = serializers.CharField(max_length=100, help_text="The sender's id of the sample; a resent id is ignored.")
        at = serializers.DateTimeField()
        model = serializers.CharField(max_length=100)
        requests = serializers.IntegerField(min_value=0, max_value=2**31 - 1)
        input_tokens = serializers.IntegerField(min_value=0, max_value=2**62, default=0)
        output_tokens = serializers.IntegerField(min_value=0, max_value=2**62, default=0)
        cost_usd = serializers.DecimalField(max_digits=14, decimal_places=6, min_value=0)
        rate_limit_hits = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=0)

    @extend_schema_serializer(component_name="OpenAIUsageBatch")
    class InputSerializer(serializers.Serializer):
        samples = serializers.ListField(child=serializers.DictField(), allow_empty=False, max_length=1000)

        def validate_samples(self, value):
            nested = OpenAIUsageApi.SampleSerializer(data=value, many=True)
            nested.is_valid(raise_exception=True)
            return nested.validated_data

    @extend_schema_serializer(component_name="OpenAIUsageRecorded")
    class OutputSerializer(serializers.Serializer):
        received = serializers.IntegerField()

    def get_authenticate_header(self, request):
        return 'Bearer realm="kpi-health"'  # a missing or wrong token answers 401, not 403

    @extend_schema(
        operation_id="kpis_openai_usage_create",
        summary="Report OpenAI usage samples",
        description="Needs `Authorization: Bearer <KPI_HEALTH_API_TOKEN>`; a missing or wrong token answers 401.",
        request=InputSerializer,
        responses={201: OutputSerializer},
        parameters=[
            OpenApiParameter("Authorization", str, OpenApiParameter.HEADER, description="Bearer <KPI_HEALTH_API_TOKEN>")
        ],
    )
    def post(self, request):
        if not bearer_token_matches(request, settings.KPI_HEALTH_API_TOKEN):
            raise NotAuthenticated("A valid KPI health token is required.")
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        received = openai_usage_record(samples=serializer.validated_data["samples"])
        return Response({"received": received}, status=status.HTTP_201_CREATED)
