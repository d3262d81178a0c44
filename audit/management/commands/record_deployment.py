"""`manage.py record_deployment`: append a deployment to the system log (the seed's SystemAuditLog)."""

from django.core.management.base import BaseCommand

from audit.models import DeploymentRecord
from audit.services import deployment_record


class Command(BaseCommand):
    help = "Record a deployment in the immutable system log."

    def create_parser(self, prog_name, subcommand, **kwargs):
        # Our --version is the release being deployed, not Django's own version flag.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("--version", dest="release", required=True)
        parser.add_argument("--deployed-by", required=True)
        parser.add_argument("--deployment-id", default=None)
        parser.add_argument("--rollback-available", action="store_true")
        parser.add_argument("--migration-status", choices=DeploymentRecord.MigrationStatus.values, default="pending")
        parser.add_argument("--config-change", action="append", default=[], help="Repeat for each change.")

    def handle(self, *args, **options):
        record = deployment_record(
            version=options["release"],
            deployed_by=options["deployed_by"],
            deployment_id=options["deployment_id"],
            rollback_available=options["rollback_available"],
            migration_status=options["migration_status"],
            configuration_changes=options["config_change"],
            source=DeploymentRecord.Source.COMMAND,
        )
        self.stdout.write(f"recorded deployment {record.deployment_id} ({record.version}) as #{record.pk}")
