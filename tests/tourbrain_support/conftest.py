"""Core tests: the widget token fixtures (`widget_settings`, `jwks`)."""

from tests.widget_tokens import jwks, widget_settings  # noqa: F401
