"""Every setting is declared once, in senolab/settings.py: no other module reads the environment
for a SENOLAB_ variable or gives a setting a default of its own with getattr(settings, ...)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("senolab", "annotations", "ml")
# settings.py declares; test_settings.py is its override; audit.py is a CI tool run without Django
# (python -m senolab.security.audit) before any settings exist.
ALLOWED = {"senolab/settings.py", "senolab/test_settings.py", "senolab/security/audit.py"}

ENV_READ = re.compile(
    r"""(?:environ\.get\(|environ\[|getenv\(|env_bool\(|env_int\()\s*["'](SENOLAB_\w+)["']"""
)
GETATTR_DEFAULT = re.compile(r"""getattr\(\s*(?:django_)?settings\s*,\s*["'](\w+)["']\s*,""")


def offences(text: str) -> list[str]:
    found = [f"reads the environment for {name}" for name in ENV_READ.findall(text)]
    found += [f"getattr(settings, {name!r}, default)" for name in GETATTR_DEFAULT.findall(text)]
    return found


def test_the_scan_finds_both_kinds_of_undeclared_reads():
    # given code that reads a setting both ways this test forbids
    text = (
        'device = os.environ.get("SENOLAB_TRAIN_DEVICE", "")\n'
        'policy = getattr(settings, "SENOLAB_WORKLIST_POLICY", "") or DEFAULT\n'
    )
    # then the scan names both
    assert offences(text) == [
        "reads the environment for SENOLAB_TRAIN_DEVICE",
        "getattr(settings, 'SENOLAB_WORKLIST_POLICY', default)",
    ]


def test_no_module_outside_settings_reads_a_setting_with_its_own_default():
    # given every Python module of the platform but settings.py
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            if name in ALLOWED:
                continue
            found += [f"{name}: {o}" for o in offences(path.read_text(encoding="utf-8"))]
    # then none reads the environment for a SENOLAB_ setting or defaults one with getattr
    assert found == [], (
        "declare these in senolab/settings.py and read settings.NAME:\n" + "\n".join(found)
    )


def test_the_login_rate_and_the_gpu_queue_are_written_once_in_settings():
    # given the platform's modules
    literals = re.compile(r"""["']20/min["']|_QUEUE\s*=\s*["']gpu["']""")
    found = {
        path.relative_to(ROOT).as_posix(): literals.findall(path.read_text(encoding="utf-8"))
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    # then the log-in rate and the GPU queue's name are written in settings.py alone, once each
    assert sorted(found.pop("senolab/settings.py")) == ['"20/min"', '_QUEUE = "gpu"']
    assert {name: hits for name, hits in found.items() if hits} == {}
