"""The engine never imports Django: a GPU worker or a notebook can use it alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import importlib, pkgutil, sys
import ml.engine, ml.engine.api
for info in pkgutil.walk_packages(ml.engine.__path__, "ml.engine."):
    importlib.import_module(info.name)
loaded = sorted(m for m in sys.modules if m == "django" or m.startswith("django."))
print("MODULES", len([m for m in sys.modules if m.startswith("ml.engine")]))
print("DJANGO", loaded)
"""


def test_engine_and_every_submodule_import_without_django():
    # when the engine and all its submodules are imported in a fresh interpreter
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    # then it worked, loaded many engine modules and not one Django module
    assert done.returncode == 0, done.stderr
    assert "DJANGO []" in done.stdout
    count = int(done.stdout.split("MODULES ")[1].split()[0])
    assert count >= 10


def test_importing_the_engine_package_does_not_load_torch():
    # the Django side imports ml.engine.cases at start-up; torch must wait for the worker (the
    # fusion package's names too: its submodules import torch)
    probe = (
        "import sys, ml.engine.cases, ml.engine.recipes, ml.engine.fusion; "
        "print('torch' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
