"""Celery signal handlers that keep Job rows true when a worker or its pool process dies.

- worker_ready: a worker that (re)starts under a name owns no running job any more; jobs still
  marked running under that name died with its previous process (SIGKILL, crash, reboot).
- task_failure with WorkerLostError: the pool child running a job was killed (for example by the
  kernel's OOM killer during training) while the worker's main process lived on; the main
  process reports it here, so the job fails at once instead of waiting for the reaper.
"""

from __future__ import annotations

import logging
from typing import Any

from billiard.exceptions import WorkerLostError
from celery.signals import task_failure, worker_ready

from senolab.jobs import services

logger = logging.getLogger(__name__)


@worker_ready.connect
def fail_orphaned_jobs(sender: Any = None, **kwargs: Any) -> None:
    hostname = getattr(sender, "hostname", "") or ""
    if hostname:
        count = services.fail_jobs_of_lost_worker(hostname)
        if count:
            logger.warning("marked %d job(s) of the previous %s process failed", count, hostname)


@task_failure.connect
def fail_job_of_lost_pool_process(
    sender: Any = None,
    task_id: str | None = None,
    exception: BaseException | None = None,
    args: tuple | list | None = None,
    **kwargs: Any,
) -> None:
    from senolab.jobs.base import JobTask

    if not isinstance(exception, WorkerLostError) or not isinstance(sender, JobTask):
        return
    if not args:
        return
    services.fail_job_of_lost_process(args[0])
