from celery import shared_task

from senolab.audit import services


@shared_task(name="audit.purge_expired_events_task")
def purge_expired_events_task() -> int:
    return services.purge_expired_events()
