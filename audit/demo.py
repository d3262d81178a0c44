"""Demo data of the audit app for `seed_demo` (idempotent): the GDPR records (see demo_compliance)."""

from audit import demo_compliance


def seed(stdout=None) -> None:
    demo_compliance.seed(stdout=stdout)
