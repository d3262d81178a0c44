"""Admin pages of the tickets app (each concern registers its models in its own module)."""

from tickets import outbox_admin  # noqa: F401 - registers the outbox admin
