"""Audit rows cannot be changed or deleted through the application; only the retention purge
deletes, and only rows older than SENOLAB_AUDIT_RETENTION_DAYS."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from django.utils import timezone

from senolab.audit import services
from senolab.audit.models import AuditAction, AuditEvent, AuditLogIsAppendOnly
from senolab.audit.tasks import purge_expired_events_task
from senolab.celeryconf import app
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def row(clinic) -> AuditEvent:
    return services.record(
        AuditAction.MEMBER_ADDED, actor=clinic.users["a_owner"], project=clinic.a
    )


def test_a_saved_row_cannot_be_saved_again_with_changes(row):
    row.action = AuditAction.LOGIN
    with pytest.raises(AuditLogIsAppendOnly):
        row.save()
    assert AuditEvent.objects.get(pk=row.pk).action == AuditAction.MEMBER_ADDED


def test_a_new_row_with_an_existing_id_does_not_overwrite_it(row):
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditEvent(pk=row.pk, action=AuditAction.LOGIN).save()
    assert AuditEvent.objects.get(pk=row.pk).action == AuditAction.MEMBER_ADDED


def test_rows_cannot_be_deleted_one_by_one_or_in_bulk(row):
    with pytest.raises(AuditLogIsAppendOnly):
        row.delete()
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.filter(pk=row.pk).delete()
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.filter(pk=row.pk).exists()


def test_rows_cannot_be_updated_in_bulk(row):
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.filter(pk=row.pk).update(actor_name="someone else")
    row.actor_name = "someone else"
    with pytest.raises(AuditLogIsAppendOnly), transaction.atomic():
        AuditEvent.objects.bulk_update([row], ["actor_name"])
    assert AuditEvent.objects.get(pk=row.pk).actor_name == "a_owner"


def test_deleting_the_project_or_the_user_keeps_the_row(row, clinic):
    # Who accessed a project's data stays known after the project and the user are gone
    clinic.a.delete()
    clinic.users["a_owner"].delete()
    kept = AuditEvent.objects.get(pk=row.pk)
    assert (kept.project_id, kept.actor_id, kept.actor_name) == (
        row.project_id,
        row.actor_id,
        "a_owner",
    )


def test_the_admin_shows_rows_but_offers_no_add_change_or_delete(row, clinic):
    admin = Client()
    admin.force_login(
        type(clinic.users["staff"]).objects.create_superuser("root", password=PASSWORD)
    )
    listing = admin.get("/admin/audit/auditevent/")
    assert listing.status_code == 200 and "a_owner" in listing.content.decode()
    assert 'value="delete_selected"' not in listing.content.decode()
    assert admin.get("/admin/audit/auditevent/add/").status_code == 403
    assert admin.get(f"/admin/audit/auditevent/{row.pk}/delete/").status_code == 403
    change = admin.post(f"/admin/audit/auditevent/{row.pk}/change/", {"actor_name": "x"})
    assert change.status_code == 403
    assert AuditEvent.objects.get(pk=row.pk).actor_name == "a_owner"


def _row_at(age_days: float) -> AuditEvent:
    return AuditEvent.objects.create(
        action=AuditAction.LOGIN, at=timezone.now() - dt.timedelta(days=age_days)
    )


def test_the_retention_purge_removes_only_rows_older_than_the_setting(settings, db):
    # Given rows on either side of a 30-day retention
    settings.SENOLAB_AUDIT_RETENTION_DAYS = 30
    old, older = _row_at(31), _row_at(400)
    recent, edge = _row_at(1), _row_at(29.9)
    # When the beat task runs
    deleted = purge_expired_events_task()
    # Then only the old rows are gone
    assert deleted == 2
    remaining = set(AuditEvent.objects.values_list("pk", flat=True))
    assert remaining == {recent.pk, edge.pk}
    assert not remaining & {old.pk, older.pk}


def test_a_retention_of_zero_keeps_rows_forever(settings, db):
    settings.SENOLAB_AUDIT_RETENTION_DAYS = 0
    ancient = _row_at(10_000)
    assert services.purge_expired_events() == 0
    assert AuditEvent.objects.filter(pk=ancient.pk).exists()


def test_the_purge_is_on_the_beat_schedule_beside_the_reaper():
    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert {"jobs.reap_stale_jobs_task", "audit.purge_expired_events_task"} <= tasks
    assert "audit.purge_expired_events_task" in app.tasks
