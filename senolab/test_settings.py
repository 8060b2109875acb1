"""Test override: fast hashing, throw-away data dir, eager Celery unless a test starts a worker."""

import os
import tempfile

os.environ.setdefault("SENOLAB_DATA_DIR", tempfile.mkdtemp(prefix="senolab-test-"))

from senolab.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = False
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405

# A file, not in-memory, SQLite test database: the Celery workers that the integration tests
# start (tests/integration/) must see the rows the test process writes.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}  # noqa: F405

# No Redis runs beside the unit tests: the tile cache shared by web processes is process-local
# here (tests/api/test_slides_api.py runs the Redis one against a real server).
CACHES["tiles"] = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "tiles"}  # noqa: F405
