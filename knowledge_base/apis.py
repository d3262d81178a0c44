"""Knowledge base API: suggestions while someone types (public articles for customers and anonymous callers)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from knowledge_base.selectors import SUGGESTION_LIMIT_MAX, kb_suggestions


class KbSuggestionsApi(APIView):
    """`GET /api/v1/kb/suggestions/?q=<text>&limit=5`: the best matching articles and videos.

    Any text is accepted (cut to 200 characters; an empty or useless query gives an empty list).
    """

    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        # Any text: read as is (DRF's CharField refuses NUL); the search cleans and cuts it.
        q = serializers.CharField(required=False, allow_blank=True, help_text="What the reader typed.")
        limit = serializers.IntegerField(required=False, min_value=1, max_value=SUGGESTION_LIMIT_MAX, default=5)

    @extend_schema_serializer(component_name="KbSuggestion")
    class OutputSerializer(serializers.Serializer):
        slug = serializers.CharField()
        title = serializers.CharField()
        summary = serializers.CharField()
        url = serializers.CharField()
        kind = serializers.ChoiceField(choices=["article", "video"])

    @extend_schema(
        parameters=[InputSerializer],
        responses={200: inline_serializer("KbSuggestions", {"results": OutputSerializer(many=True)})},
        summary="Help articles matching a text",
    )
    def get(self, request):
        given = {"limit": request.query_params["limit"]} if "limit" in request.query_params else {}
        params = self.InputSerializer(data=given)
        params.is_valid(raise_exception=True)
        query = request.query_params.get("q", "")
        results = kb_suggestions(query=query, user=request.user, limit=params.validated_data["limit"])
        return Response({"results": self.OutputSerializer(results, many=True).data})
