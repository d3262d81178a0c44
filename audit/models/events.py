"""Immutable activity log, system (deployment) log, checkpoints and the personal-data store."""

__all__: list[str] = []
