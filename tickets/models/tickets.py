"""Tickets, conversation, attachments, SLA policies, calendars and routing rules."""

__all__: list[str] = []
