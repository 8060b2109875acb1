"""Web processes must not import torch at start-up (it costs seconds and hundreds of MB per
gunicorn worker): load the WSGI application, the whole URL configuration and the schema, as a
web worker does, in a fresh interpreter, and look at what got imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from django.conf import settings

PROBE = """
import json, sys
from django.core.wsgi import get_wsgi_application
application = get_wsgi_application()
from django.urls import get_resolver
get_resolver().url_patterns  # imports every app's views, serializers and routers
from drf_spectacular.generators import SchemaGenerator
SchemaGenerator().get_schema(request=None, public=True)
heavy = sorted(m for m in ("torch", "monai", "torchvision") if m in sys.modules)
print(json.dumps(heavy))
"""


def test_the_web_application_starts_without_importing_torch(tmp_path):
    # Given a fresh interpreter with the platform's settings
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "senolab.test_settings",
        "SENOLAB_DATA_DIR": str(tmp_path),
    }
    # When it loads what a web worker loads
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    # Then no deep-learning package was imported
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
