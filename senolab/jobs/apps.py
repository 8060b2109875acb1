from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "senolab.jobs"
    label = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        from senolab.jobs import signals  # noqa: F401  (connects worker start-up handlers)
