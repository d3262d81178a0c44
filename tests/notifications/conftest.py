"""Notification tests file tickets (a critical ticket's notifications), so they need the ticket defaults (teams,
routing rules, the SLA policy) that a transactional test's flush removes: the tickets tests' fixture applies."""

from tests.tickets.conftest import _ticket_defaults  # noqa: F401  (autouse)
