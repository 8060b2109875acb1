from django.apps import AppConfig


class MlConfig(AppConfig):
    name = "ml"
    verbose_name = "Machine learning: runs, model versions, predictions"

    def ready(self) -> None:
        from ml import signals  # noqa: F401  (connects the worker start-up handler)
