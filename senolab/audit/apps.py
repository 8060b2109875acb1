from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "senolab.audit"
    label = "audit"
    verbose_name = "Access audit log"

    def ready(self) -> None:
        from senolab.audit import signals  # noqa: F401  (records log-ins and failed log-ins)
