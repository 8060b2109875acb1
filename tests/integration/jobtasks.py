"""A Job task used only by the integration tests: steps with progress reports and a pause.

Workers load it with `--include tests.integration.jobtasks`; the test process sends it by name.
"""

from __future__ import annotations

import os
import time

from celery import shared_task

from senolab.jobs.base import JobTask

STEPS_TASK = "tests.integration.steps_job_task"


@shared_task(bind=True, base=JobTask, name=STEPS_TASK)
def steps_job_task(self, job_id: str) -> str:
    return self.run_job(job_id, run_steps)


def run_steps(job, progress) -> dict:
    steps = int(job.params.get("steps", 3))
    delay = float(job.params.get("delay", 0.05))
    for step in range(steps):
        progress(step / steps, f"step {step + 1} of {steps}")
        time.sleep(delay)
    return {"steps": steps, "pid": os.getpid()}
