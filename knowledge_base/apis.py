"""Knowledge base API: suggestions while someone types (public articles for customers and anonymous callers)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
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
        q = serializers.CharField(required=False, allow_blank=True, trim_whitespace=True, default="")
        limit = serializers.IntegerField(required=False, min_value=1, max_value=SUGGESTION_LIMIT_MAX, default=5)

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
        params = self.InputSerializer(
            data={key: request.query_params.get(key) for key in ("q", "limit") if key in request.query_params}
        )
        params.is_valid(raise_exception=True)
        results = kb_suggestions(
            query=params.validated_data["q"], user=request.user, limit=params.validated_data["limit"]
        )
        return Response({"results": self.OutputSerializer(results, many=True).data})
