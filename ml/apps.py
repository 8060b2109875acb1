from django.apps import AppConfig


class MlConfig(AppConfig):
    name = "ml"
    verbose_name = "Machine learning: runs, model versions, predictions"

    def ready(self) -> None:
        # signals connects the worker start-up handler; tasks registers the ml.* tasks in every
        # process, so a signature the services send by name runs in place when Celery is eager
        # (the e2e server, tests) instead of going to a broker that is not there.
        from annotations.worklist import register_ranking
        from ml import signals, tasks  # noqa: F401
        from ml.services.active_learning import open_round_ranking

        # The open active-learning round's picks lead every reader's "next".
        register_ranking(open_round_ranking)
