"""Native events API: POST /api/v1/kpis/events/ with a project API key as Bearer token.

Each item is checked on its own: the answer lists the refused ones by index with a reason, the rest are stored.
"""

from django.conf import settings
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from kpis.authentication import ProjectApiKeyAuthentication
from kpis.ingestion import CaptureError, check_batch_size, events_ingest
from tourbrain_support.api import ApplicationError


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
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        items = serializer.validated_data["events"]
        try:
            check_batch_size(items)
        except CaptureError as error:
            raise ApplicationError(error.message, code=error.code, status=error.status) from error
        result = events_ingest(items=items, require_uuid=True)
        return Response({"received": result.received, "rejected": len(result.errors), "errors": result.errors})
