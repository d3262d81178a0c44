"""`flush` that can also empty the append-only audit tables.

Flushing is already a privileged, destroy-everything operation (the test runner uses it between
transactional tests). The audit guards are lifted only inside the flush's own transaction, which needs
table ownership: under the restricted application role this fails like any other attempt.
"""

from django.core.management.commands.flush import Command as FlushCommand

from audit.immutability import suspended_protection


class Command(FlushCommand):
    def handle(self, **options):
        with suspended_protection(options["database"]):
            return super().handle(**options)
