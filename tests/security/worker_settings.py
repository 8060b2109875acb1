"""Settings of the crash test's worker: the integration workers' settings plus the ingest task."""

from tests.integration.worker_settings import *  # noqa: F403

CELERY_IMPORTS = ["tests.security.crashtasks"]
