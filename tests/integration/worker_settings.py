"""Settings for the Celery workers that the integration tests start.

The test process passes the name of its test database (a file for SQLite, `test_...` on
PostgreSQL) and the embedded Redis URL through the environment; everything else is the test
settings, including the shared SENOLAB_DATA_DIR (media storage) inherited from the test process.
"""

import os

from senolab.test_settings import *  # noqa: F403

DATABASES["default"]["NAME"] = os.environ["SENOLAB_TEST_DATABASE_NAME"]  # noqa: F405
CELERY_TASK_ALWAYS_EAGER = False
