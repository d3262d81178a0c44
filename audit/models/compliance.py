"""Security metrics and lockouts, GDPR (consent, data-subject requests, transfers) and backups."""

__all__: list[str] = []
