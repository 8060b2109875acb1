"""The Celery application.

Workers: `celery -A senolab worker -Q default` and, on GPU hosts, `celery -A senolab worker -Q gpu
-c 1`; beat: `celery -A senolab beat` with django-celery-beat's DatabaseScheduler, which copies the
schedule below into its tables at start-up (admins may then change intervals in the admin).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "senolab.settings")

app = Celery("senolab")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Periodic work. The reaper fails running jobs whose heartbeat stopped (their worker vanished for
# good); a restarted worker fails its own orphans at once (senolab/jobs/signals.py). The audit
# purge deletes access-log rows past SENOLAB_AUDIT_RETENTION_DAYS once a day.
app.conf.beat_schedule = {
    "reap-stale-jobs": {"task": "jobs.reap_stale_jobs_task", "schedule": 300.0},
    "purge-expired-audit-events": {
        "task": "audit.purge_expired_events_task",
        "schedule": 86400.0,
    },
}
