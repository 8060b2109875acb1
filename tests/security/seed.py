"""Two projects, A and B, each with one of everything, every text field carrying a canary.

Project B's rows get primary keys from a distinctive range (sequences are moved before it is
seeded), so that a B id showing up in a response to a member of A only is found by searching
the bytes. Models added later that hang off a project are filled generically, so endpoints for
them get objects to act on without this file being edited.
"""

from __future__ import annotations

import datetime as dt
import io
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection, models
from django.utils import timezone
from PIL import Image as PILImage

from senolab.imaging import storage
from senolab.imaging.ingest.raster import ingest_raster
from senolab.imaging.models import ClinicalRecord, Series
from senolab.jobs.models import Job
from senolab.projects.models import Membership, Project, Role

SEEDED_APPS = ("projects", "imaging", "jobs", "annotations", "ml")
ID_BASE = 7_300_000


@dataclass
class Seeded:
    """One project with one object of each kind and the strings that must not leak from it."""

    project: Project
    tag: str
    objects: dict[type[models.Model], models.Model] = field(default_factory=dict)
    canaries: set[str] = field(default_factory=set)

    def get(self, model: type[models.Model]) -> models.Model | None:
        return self.objects.get(model)

    def add(self, obj: models.Model) -> models.Model:
        self.objects.setdefault(type(obj), obj)
        return obj


def project_models() -> list[type[models.Model]]:
    """Concrete models of our apps; their ids are moved into a distinctive range for B."""
    return [
        m
        for m in apps.get_models()
        if m._meta.app_label in SEEDED_APPS and isinstance(m._meta.pk, models.AutoField)
    ]


def move_id_sequences(base: int) -> None:
    """Make the next id of every project model (and user) start at a distinctive number, or
    after the highest id already there (sequences outlive rolled-back tests on PostgreSQL, so a
    second test may find rows above the base)."""
    targets = [*project_models(), get_user_model()]
    with connection.cursor() as cursor:
        for i, model in enumerate(targets):
            table, column = model._meta.db_table, model._meta.pk.column
            cursor.execute(f'SELECT MAX("{column}") FROM "{table}"')  # noqa: S608 (model names)
            highest = cursor.fetchone()[0]
            start = max(base + 10_000 * i, highest if isinstance(highest, int) else 0)
            if connection.vendor == "sqlite":
                cursor.execute(
                    "UPDATE sqlite_sequence SET seq = %s WHERE name = %s", [start, table]
                )
                if cursor.rowcount == 0:
                    cursor.execute(
                        "INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [table, start]
                    )
            elif connection.vendor == "postgresql":
                cursor.execute(
                    "SELECT setval(pg_get_serial_sequence(%s, %s), %s)", [table, column, start]
                )


def _png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    PILImage.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def seed_project(name: str, tag: str, members: dict[str, Any]) -> Seeded:
    """A project with members, an exam (image + slide), a finding with a mask mark, a label,
    a clinical record, a job, and one generic row of every other project model."""
    from annotations.models import ExamLabel, Finding, FindingVersion, Mark
    from senolab.imaging.ingest.slides import ingest_slide, write_pyramidal_tiff

    canary = f"CANARY{tag}"
    project = Project.objects.create(
        name=f"{canary} project", slug=f"canary-{tag.lower()}", description=f"{canary} about"
    )
    for role, user in members.items():
        Membership.objects.create(project=project, user=user, role=Role(role))
    owner = members["owner"]
    seeded = Seeded(project, tag, {Project: project})
    rng = np.random.default_rng(len(tag))
    image = ingest_raster(
        project,
        rng.integers(0, 255, (48, 40), dtype=np.uint8),
        patient_key=f"{canary}-patient",
        exam_key=f"{canary}-exam",
        modality="MG",
        laterality="L",
        view="CC",
        site=f"{canary}-site",
        study_date=dt.date(2020, 5, 17),
        description=f"{canary} exam",
    )
    exam, series = image.exam, image.series
    # As if masked for burned-in text: the unmasked original that owners alone may read.
    image.unmasked_storage_key = storage.save(
        storage.new_key(project.pk, "images", "dcm"), storage.read(image.storage_key)
    )
    image.save(update_fields=["unmasked_storage_key"])
    Series.objects.filter(pk=series.pk).update(description=f"{canary} series")
    with tempfile.TemporaryDirectory() as tmp:
        tiff = Path(tmp) / "slide.tiff"
        write_pyramidal_tiff(tiff, rng.integers(0, 255, (512, 512, 3), dtype=np.uint8), mpp=0.5)
        slide = ingest_slide(
            project, tiff, patient_key=f"{canary}-patient", exam_key=f"{canary}-exam"
        )
    record = ClinicalRecord.objects.create(
        project=project,
        patient=exam.patient,
        exam=exam,
        age_at_exam=55,
        fields={"note": f"{canary} clinical"},
    )
    finding = Finding.objects.create(
        project=project,
        exam=exam,
        finding_type="mass",
        birads="4",
        laterality="L",
        note=f"{canary} finding",
        created_by=owner,
        updated_by=owner,
    )
    FindingVersion.objects.create(
        finding=finding, version=1, snapshot={"note": finding.note}, author=owner
    )
    mask = np.zeros((8, 8), dtype=np.uint8)
    mask[2:6, 2:6] = 255
    mask_key = storage.save(storage.new_key(project.pk, "masks", "png"), _png(mask))
    mark = Mark.objects.create(
        finding=finding,
        image=image,
        kind="mask",
        mask_key=mask_key,
        geometry={"x": 4, "y": 4, "width": 8, "height": 8},
    )
    label = ExamLabel.objects.create(
        project=project,
        exam=exam,
        density="B",
        birads="2",
        author=owner,
        attributes={"note": f"{canary} label"},
    )
    job = Job.objects.create(
        project=project,
        kind="ingest",
        status="succeeded",
        progress=1.0,
        message=f"{canary} job",
        created_by=owner,
    )
    for obj in (exam.patient, exam, series, image, slide, record, finding, mark, label, job):
        seeded.add(obj)
    seeded.add(Membership.objects.filter(project=project).first())
    seeded.add(_real_export(project, owner))
    autofill_project_models(seeded, owner)
    seeded.canaries |= {
        canary,
        project.slug,
        exam.patient.pseudonym,
        str(job.pk),
        *(
            Path(k).stem
            for k in (
                image.storage_key,
                image.unmasked_storage_key,
                image.pixel_cache_key,
                slide.storage_key,
                mask_key,
            )
            if k
        ),
        *(u.username for u in members.values()),
    }
    return seeded


def _real_export(project: Project, owner: Any) -> models.Model:
    """A finished data set export of the project (a real zip: its download and records are
    read by the matrix, and searched for the other project's canaries)."""
    from ml.models import DatasetExport
    from ml.services import exports
    from senolab.jobs.services import run_job

    export = exports.start_export(project, ["coco", "csv"], user=owner, enqueue=False)
    job = run_job(export.job_id, exports.run_export)
    assert job.status == "succeeded", job.message
    return DatasetExport.objects.get(pk=export.pk)


def autofill_project_models(seeded: Seeded, user: Any) -> None:
    """One row of every other model with a project, its required fields filled with canaries."""
    pending = [m for m in project_models() if m not in seeded.objects and _has_project(m)]
    progress = True
    while pending and progress:
        progress = False
        for model in list(pending):
            project_field = next(
                f.name
                for f in model._meta.concrete_fields
                if isinstance(f, models.ForeignKey) and f.related_model is Project
            )
            existing = model.objects.filter(**{project_field: seeded.project}).first()
            if existing is not None:  # made by the seeding above (a key, a pseudonym entry)
                seeded.add(existing)
                pending.remove(model)
                progress = True
                continue
            values = _required_values(model, seeded, user)
            if values is None:
                continue
            seeded.add(model.objects.create(**values))
            pending.remove(model)
            progress = True


def _has_project(model: type[models.Model]) -> bool:
    return any(
        isinstance(f, models.ForeignKey) and f.related_model is Project
        for f in model._meta.concrete_fields
    )


def _required_values(model: type[models.Model], seeded: Seeded, user: Any) -> dict | None:
    values: dict[str, Any] = {}
    for f in model._meta.concrete_fields:
        if (
            f.primary_key
            or f.has_default()
            or getattr(f, "auto_now", False)
            or getattr(f, "auto_now_add", False)
        ):
            continue
        if isinstance(f, models.ForeignKey):
            if f.related_model is get_user_model():
                values[f.name] = user
            elif (target := seeded.get(f.related_model)) is not None:
                values[f.name] = target
            elif not f.null:
                return None  # wait for the row it needs
            continue
        if (
            isinstance(f, models.CharField)
            and f.name.endswith("_key")
            and (f.max_length or 0) >= 100
        ):
            # A storage key (long enough for one; not e.g. a short stratify_key): point it at a
            # real (small PNG) file, as real rows do.
            key = storage.new_key(seeded.project.pk, "seed", "png")
            values[f.name] = storage.save(key, _png(np.full((4, 4), 128, np.uint8)))
            continue
        if f.null or f.blank:
            continue
        values[f.name] = _value_for(f, f"CANARY{seeded.tag}")
    return values


def _value_for(f: models.Field, canary: str) -> Any:
    if f.choices:
        return f.choices[0][0]
    if isinstance(f, (models.CharField, models.TextField)):
        return f"{canary}-{f.name}"[: f.max_length or 200]
    if isinstance(f, (models.IntegerField, models.FloatField, models.DecimalField)):
        return 1
    if isinstance(f, models.BooleanField):
        return False
    if isinstance(f, models.DateTimeField):
        return timezone.now()
    if isinstance(f, models.DateField):
        return dt.date(2020, 1, 1)
    if isinstance(f, models.UUIDField):
        return uuid.uuid4()
    if isinstance(f, models.JSONField):
        return {}
    return f"{canary}-{f.name}"


def seeded_ids(seeded: Seeded) -> set[int]:
    """Integer ids of the project's rows (distinctive only for a project seeded after
    move_id_sequences)."""
    return {obj.pk for obj in seeded.objects.values() if isinstance(obj.pk, int)}
