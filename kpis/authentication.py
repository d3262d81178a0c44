"""API authentication with a project API key (`Authorization: Bearer phc_...`), for the native events API."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from kpis.ingestion import project_key_is_valid


class ProjectApiKeyUser:
    """The caller of a project-key request: no person, no staff permissions."""

    is_authenticated = True
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def has_perm(self, perm, obj=None) -> bool:
        return False


class ProjectApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, key = header.partition(" ")
        if scheme != self.keyword or not project_key_is_valid(key.strip()):
            raise exceptions.AuthenticationFailed("Invalid project API key.")
        return ProjectApiKeyUser(), key.strip()

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="TourBrain KPIs"'


class ProjectApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "kpis.authentication.ProjectApiKeyAuthentication"
    name = "projectApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A KPI project API key (`phc_...`), as configured in KPI_PROJECT_API_KEYS or the admin.",
        }
