"""Every 403 answer becomes a `permission_denied` audit event (pages and API alike)."""

from audit.services import audit_record


class PermissionDeniedAuditMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 403:
            user = getattr(request, "user", None)
            audit_record(
                actor=user if user is not None and user.is_authenticated else None,
                action="permission_denied",
                resource_type="url",
                resource_id=request.path[:64],
                success=False,
                changes={"method": request.method},
                request=request,
            )
        return response
