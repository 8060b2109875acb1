from celery import shared_task

from senolab.jobs import services


@shared_task(name="jobs.reap_stale_jobs_task")
def reap_stale_jobs_task() -> int:
    return services.reap_stale_jobs()
