"""API authentication for staff and signed-in customers (own module: DRF imports it while loading its views)."""

from rest_framework.authentication import SessionAuthentication


class PortalSessionAuthentication(SessionAuthentication):
    """Session auth (CSRF-checked) that answers 401, not 403, when nobody is signed in."""

    def authenticate_header(self, request) -> str:
        return 'Session realm="TourBrain Support"'
