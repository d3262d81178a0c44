"""JSON parsing with a nesting limit (own module: DRF imports the parser while loading its views).

Python's JSON parser recurses once per nesting level, so a body nested a thousand levels deep exhausts the
stack (RecursionError, a 500). The depth is counted first, without recursion, and a deeper body is refused.
"""

import io
import re

from django.conf import settings
from rest_framework import exceptions
from rest_framework.parsers import JSONParser

# A JSON string (escapes included), unrolled so long strings need no backtracking; brackets inside it don't count.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def json_nesting_exceeds(text: str, limit: int) -> bool:
    """True when arrays/objects in `text` nest deeper than `limit` (counted without recursion)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for match in _JSON_BRACKET.finditer(_JSON_STRING.sub("", text)):
        if match.group() in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def json_depth_error_message() -> str:
    return f"JSON nested deeper than {settings.API_JSON_MAX_DEPTH} levels."


class DepthLimitedJSONParser(JSONParser):
    """DRF's JSON parser, refusing bodies nested deeper than API_JSON_MAX_DEPTH with a 400 parse_error."""

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from exc
        if json_nesting_exceeds(text, settings.API_JSON_MAX_DEPTH):
            raise exceptions.ParseError(json_depth_error_message())
        return super().parse(io.BytesIO(raw), media_type, parser_context)
