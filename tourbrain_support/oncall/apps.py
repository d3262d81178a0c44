from django.apps import AppConfig


class OncallConfig(AppConfig):
    name = "tourbrain_support.oncall"
    label = "oncall"
    verbose_name = "On-call and incidents"

    def ready(self) -> None:
        # The core's launch checks register themselves on import; apps add theirs in their own ready().
        from tourbrain_support.oncall import launch  # noqa: F401
