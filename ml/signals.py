"""Keep TrainingRun.status true when a run's job was finished outside the ML code.

The worker finishing a training settles its run itself (ml.services.run_training); a job failed
because its worker died, by the reaper, or cancelled while still queued, is finished by the jobs
app, which knows nothing of runs. It announces those bulk finishes (`jobs_finished_elsewhere`,
after the commit), and the runs take their job's final status at once; a (re)starting worker
settles them too, for finishes that happened while no process was there to hear the signal.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import worker_ready
from django.dispatch import receiver

from senolab.jobs.services import jobs_finished_elsewhere

logger = logging.getLogger(__name__)


@worker_ready.connect
def settle_runs_of_lost_jobs(sender: Any = None, **kwargs: Any) -> None:
    from ml import services
    from senolab.jobs import services as jobs

    hostname = getattr(sender, "hostname", "") or ""
    if hostname:
        # Idempotent, and done here too so the order of the two worker_ready receivers does
        # not matter: the jobs of this worker's previous process are failed first.
        jobs.fail_jobs_of_lost_worker(hostname)
    count = services.settle_runs_of_finished_jobs()
    if count:
        logger.warning("settled %d training run(s) whose job had already finished", count)


@receiver(jobs_finished_elsewhere)
def settle_runs_when_jobs_finish_elsewhere(sender: Any = None, **kwargs: Any) -> None:
    from ml import services

    services.settle_runs_of_finished_jobs()
