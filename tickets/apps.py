from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "tickets"

    def ready(self):
        from tickets.email_inbound import quarantine_erase_person
        from tourbrain_support.erasure import register_erasure_step

        # Quarantined mail names people only inside its raw bytes: the GDPR erasure cannot find it alone.
        register_erasure_step("tickets.quarantined_email", quarantine_erase_person)
