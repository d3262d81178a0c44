"""OpenAPI: how drf-spectacular describes the portal's own authentication classes."""

from drf_spectacular.authentication import SessionScheme


class PortalSessionScheme(SessionScheme):
    # Same cookie session as DRF's SessionAuthentication; only the 401 answer differs.
    target_class = "tourbrain_support.authentication.PortalSessionAuthentication"
