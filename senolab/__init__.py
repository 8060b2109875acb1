"""Senolab: the platform package (settings, urls, Celery app and the core apps)."""

from senolab.celeryconf import app as celery_app

__all__ = ["celery_app"]
