"""`manage.py runplatform` for real: every service up, the API answers, Ctrl-C leaves nothing."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
from django.conf import settings

from senolab.devserver import free_port

ADMIN = ("itest-admin", "itest-Password-8391")


def _get(url: str, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Token {token}")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        return response.status, json.loads(response.read())


def _post(url: str, data: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(data).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, {}


def _wait_for_line(path: Path, pattern: str, process: subprocess.Popen, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace")
        match = re.search(pattern, text)
        if match:
            return match.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError(f"no {pattern!r} from runplatform:\n{path.read_text()[-4000:]}")


def _token_for(base: str, printed_token: str) -> str:
    """Log in through the API's token endpoint when the API has one, else use the printed one."""
    for endpoint in ("api/auth/token/", "api/auth/login/", "api/token/"):
        status, body = _post(base + endpoint, {"username": ADMIN[0], "password": ADMIN[1]})
        if status == 200 and body.get("token"):
            return body["token"]
    return printed_token


def test_runplatform_serves_the_api_and_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    # given a fresh data directory and a free port, on the embedded defaults
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        DJANGO_SETTINGS_MODULE="senolab.settings",
        SENOLAB_DATA_DIR=str(tmp_path / "var"),
        SENOLAB_PORT=str(port),
        SENOLAB_SKIP_DEMO="1",
        SENOLAB_WEB_WORKERS="1",
        SENOLAB_WORKER_CONCURRENCY="1",
        SENOLAB_ADMIN_USER=ADMIN[0],
        SENOLAB_ADMIN_PASSWORD=ADMIN[1],
        PYTHONUNBUFFERED="1",
    )
    log_path = tmp_path / "runplatform.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runplatform"],
            cwd=settings.BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        # when it reports that it is up
        printed_token = _wait_for_line(log_path, r"API token:\s+(\w+)", process, timeout=180)
        base = f"http://127.0.0.1:{port}/"
        children = psutil.Process(process.pid).children(recursive=True)
        commands = " ".join(" ".join(c.cmdline()) for c in children)

        # then every service runs, the API answers with the admin's token
        assert "redis-server" in commands
        assert "gunicorn" in commands
        assert "-Q default" in commands and "-Q gpu" in commands and " beat " in commands
        assert _get(base + "api/health/") == (200, {"status": "ok"})
        status, jobs = _get(base + "api/jobs/", _token_for(base, printed_token))
        assert status == 200 and jobs["count"] == 0
        _wait_for_line(log_path, r"(gpu@\S+ ready)", process, timeout=60)
        _wait_for_line(log_path, r"(default@\S+ ready)", process, timeout=60)
        assert _beat_registered_the_reaper(tmp_path / "var" / "senolab.sqlite3")

        # when Ctrl-C reaches the supervisor, twice at once (a terminal signals the whole
        # foreground group, and `timeout` or a shell may pass the same Ctrl-C on again)
        process.send_signal(signal.SIGINT)
        time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        code = process.wait(60)

        # then it exits 0 and no process it started is left
        assert code == 0, log_path.read_text()[-4000:]
        deadline = time.monotonic() + 5
        while any(_alive(c) for c in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [c.pid for c in children if _alive(c)] == []
        output = log_path.read_text()
        assert "every process stopped" in output
        assert "Traceback" not in output and "did not stop" not in output, output[-4000:]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _beat_registered_the_reaper(database: Path, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(database) as db:
            rows = db.execute(
                "SELECT enabled FROM django_celery_beat_periodictask WHERE task = ?",
                ("jobs.reap_stale_jobs_task",),
            ).fetchall()
        if rows:
            return bool(rows[0][0])
        time.sleep(0.2)
    return False


def test_runplatform_refuses_a_busy_port_at_once_with_what_to_do(tmp_path: Path) -> None:
    # given something already listening on the port
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
        env.update(
            DJANGO_SETTINGS_MODULE="senolab.settings",
            SENOLAB_DATA_DIR=str(tmp_path / "var"),
            SENOLAB_PORT=str(port),
            SENOLAB_SKIP_DEMO="1",
        )
        # when runplatform starts
        done = subprocess.run(
            [sys.executable, "manage.py", "runplatform"],
            cwd=settings.BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
    # then it stops before starting anything, and says how to choose another port
    assert done.returncode == 1
    assert f"127.0.0.1:{port} is not free" in done.stderr and "SENOLAB_PORT" in done.stderr
    assert "redis" not in done.stdout
