from django.apps import AppConfig


class KpisConfig(AppConfig):
    name = "kpis"

    def ready(self):
        from kpis.alert_sources import alert_sources_register
        from kpis.cors import register_signal_handlers
        from kpis.health import request_sample_observe
        from tourbrain_support.metrics import request_observer_register

        # Samples of this portal's own requests for the health metrics (kept in memory; no query per request).
        request_observer_register("kpis-request-samples", request_sample_observe)
        alert_sources_register()
        register_signal_handlers()  # CORS of the capture paths (django-cors-headers' hook)
        from kpis.selectors import beta_users_active_since
        from tickets.beta_invitations import beta_active_counter_register

        beta_active_counter_register(beta_users_active_since)  # the beta cohort page's "active" count
