"""The notification outbox: rows written with their cause, delivered by a task."""

__all__: list[str] = []
