"""Prediction and pre-annotation: a predict Job runs model versions (one asked for, or the
project's active ones) on exams of its project and stores, per exam, its exam-level scores once
and, per image the model read, that image's scores, lesions, predicted mask and map (PNGs: a
probability map for segmentation and detection models, a Grad-CAM for classifiers). Predictions
are proposals, never annotations (ml.services.review turns them into findings).
"""

from __future__ import annotations

import io
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np
from celery import signature
from django.conf import settings
from django.db import transaction

from ml.models import ModelVersion, Prediction, VersionStatus
from ml.services import engine, registry
from ml.services.errors import (
    ExamsNotInProject,
    JobNotResumable,
    NoActiveModel,
    NotAPredictionJob,
)
from ml.services.results import json_safe
from ml.services.snapshots import build_manifest, cases_from_manifest
from senolab.imaging import storage
from senolab.imaging.models import Exam, Image
from senolab.jobs import services as jobs
from senolab.jobs.models import Job, JobKind, JobStatus

logger = logging.getLogger(__name__)

PREDICT_TASK = "ml.predict_task"
# Longest side of a stored map: a Grad-CAM or probability map holds no more detail than the
# model's input (128-256 px in the shipped recipes) and the viewer stretches it over its image;
# predicted masks are kept at the image's size.
HEATMAP_MAX_SIDE = 256
# Exams read and stored per step of a prediction Job: what a restarted job may have to redo.
PREDICT_BATCH = 16


# --- starting jobs --------------------------------------------------------------------------------


def _exams_of(project_id: int, exam_ids: list[int]) -> list[int]:
    """The exam ids, all of the project's (others are refused, not leaked)."""
    found = set(
        Exam.objects.filter(project_id=project_id, pk__in=exam_ids).values_list("pk", flat=True)
    )
    if len(found) != len(set(exam_ids)):
        raise ExamsNotInProject()
    return sorted(found)


def _start(
    project, versions: list[ModelVersion], exams: list[int], *, explain: bool, user, **extra
) -> Job:
    params = {
        "model_versions": [v.pk for v in versions],
        "exams": exams,
        "explain": explain,
        **extra,
    }
    with transaction.atomic():
        job = jobs.create_job(
            JobKind.PREDICT,
            project=project,
            user=user,
            params=params,
            queue=settings.SENOLAB_GPU_QUEUE,
        )
        jobs.enqueue(job, signature(PREDICT_TASK))
    return job


def start_prediction(
    version: ModelVersion, exam_ids: list[int], *, explain: bool = True, user=None
) -> Job:
    """A predict Job for exams of the version's project (others are refused, not leaked).

    Raises ExamsNotInProject when any exam is not one of the project's.
    """
    exams = _exams_of(version.project_id, exam_ids)
    return _start(version.project, [version], exams, explain=explain, user=user)


def active_versions(project, modalities: list[str] | None = None) -> list[ModelVersion]:
    """The project's active versions (one per task and label), those for any of `modalities`
    (or for no particular modality) when given."""
    versions = ModelVersion.objects.filter(project=project, status=VersionStatus.ACTIVE).order_by(
        "pk"
    )
    if modalities is None:
        return list(versions)
    return [v for v in versions if not v.modality or v.modality in modalities]


def start_preannotation(
    project,
    exam_ids: list[int] | None = None,
    *,
    user=None,
    trigger: str = "request",
    batch: int = PREDICT_BATCH,
) -> Job:
    """One Job running every active version of the project on the exams (all of the project's
    when None) whose modality it reads; batched and resumable (see run_prediction).

    Raises ExamsNotInProject for an exam of another project, NoActiveModel when no active
    version reads any of the exams' modalities.
    """
    if exam_ids is None:
        exams = sorted(Exam.objects.filter(project=project).values_list("pk", flat=True))
    else:
        exams = _exams_of(project.pk, exam_ids)
    modalities = sorted(
        {
            m
            for ms in Exam.objects.filter(pk__in=exams).values_list("modalities", flat=True)
            for m in ms
        }
    )
    versions = active_versions(project, modalities)
    if not versions:
        raise NoActiveModel("/".join(modalities) or "these exams")
    return _start(project, versions, exams, explain=True, user=user, trigger=trigger, batch=batch)


def resume_prediction(job: Job) -> Job:
    """Queue a failed or cancelled prediction Job again; it skips the exams it finished."""
    if job.kind != JobKind.PREDICT:
        raise NotAPredictionJob()
    if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        raise JobNotResumable(job.status)
    with transaction.atomic():
        Job.objects.filter(pk=job.pk).update(
            status=JobStatus.QUEUED,
            cancel_requested=False,
            finished_at=None,
            error="",
            worker="",
            celery_task_id="",
            message="Resumed: finished exams are skipped.",
        )
        job.refresh_from_db()
        jobs.enqueue(job, signature(PREDICT_TASK))
    return job


# --- worker side ----------------------------------------------------------------------------------

# Models kept loaded per worker process, least recently used dropped first: a second Job (or a
# click on the exam page) of the same version does not load its artifact again.
PREDICTOR_CACHE_SIZE = 2
_predictors: OrderedDict[tuple, Any] = OrderedDict()
_predictors_lock = threading.Lock()


def loaded_predictor(version: ModelVersion, device: str) -> Any:
    """The version's model loaded on `device`, from this process's cache when the same artifact
    was loaded before. Keyed by the version, its artifact's checksum, the device and the local
    file's inode, size and modification time: a new version, a new artifact or a file changed
    on disk is loaded afresh (and checked against its checksum, as every load is)."""
    path = registry.artifact_file(version)
    stat = path.stat()
    key = (
        version.pk,
        version.artifact_sha256,
        str(device),
        str(path),
        stat.st_ino,
        stat.st_size,
        stat.st_mtime_ns,
    )
    with _predictors_lock:
        predictor = _predictors.get(key)
        if predictor is not None:
            _predictors.move_to_end(key)
            return predictor
    predictor = engine.api().Predictor(registry.local_artifact(version), device)
    with _predictors_lock:
        for old in [k for k in _predictors if k[0] == version.pk]:  # a stale copy of it
            del _predictors[old]
        _predictors[key] = predictor
        while len(_predictors) > PREDICTOR_CACHE_SIZE:
            _predictors.popitem(last=False)
    return predictor


def clear_predictors() -> None:
    """Forget every loaded model of this process."""
    with _predictors_lock:
        _predictors.clear()


def _png(array: np.ndarray, max_side: int | None = None) -> bytes:
    """A [0, 1] array as an 8-bit grey PNG; with max_side, shrunk to fit it (maps are overlays
    the viewer stretches over their image: a full-size map costs more to write than to read)."""
    from PIL import Image as PILImage

    buf = io.BytesIO()
    scaled = (np.clip(np.asarray(array, dtype=np.float32), 0, 1) * 255).astype(np.uint8)
    picture = PILImage.fromarray(scaled)
    if max_side and max(picture.size) > max_side:
        ratio = max_side / max(picture.size)
        size = (max(1, round(picture.width * ratio)), max(1, round(picture.height * ratio)))
        picture = picture.resize(size, PILImage.Resampling.BILINEAR)
    picture.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _positive(scores: dict[str, float]) -> float:
    """The score a proposal is ranked by: the positive (last) class of a binary or one-class
    output, else the top class."""
    values = list(scores.values())
    if not values:
        return 0.0
    return float(values[-1]) if len(values) <= 2 else float(max(values))


def store_predictions(version: ModelVersion, outputs: list[Any], job: Job | None) -> int:
    """Per predicted case, atomically: one exam-level Prediction (the case's scores, once, and
    per breast those of its highest-scoring image) and one per image the model read (its own
    scores, lesions, mask and map), all of the batch in one insert. Returns how many rows were
    written."""
    project_id = version.project_id
    rows: list[Prediction] = []
    by_exam: dict[int, dict[str, Image]] = {}
    for im in Image.objects.filter(
        exam_id__in=[int(out.case_key) for out in outputs], project_id=project_id
    ):
        by_exam.setdefault(im.exam_id, {})[str(im.pk)] = im
    with storage.files_with_rows() as batch:
        for out in outputs:
            exam_id = int(out.case_key)
            images = by_exam.get(exam_id, {})
            read = [k for k in (out.image_keys or list(out.heatmaps)) if k in images]
            breasts: dict[str, dict[str, float]] = {}
            for key in read:
                side = images[key].laterality
                scores = out.image_scores.get(key)
                if side in ("L", "R") and scores:
                    if side not in breasts or _positive(scores) > _positive(breasts[side]):
                        breasts[side] = scores
            rows.append(
                Prediction(
                    project_id=project_id,
                    model_version=version,
                    exam_id=exam_id,
                    image=None,
                    job=job,
                    outputs={
                        "level": "exam",
                        "probability": float(out.probability),
                        "label": out.label,
                        "scores": json_safe(out.scores),
                        "breasts": json_safe(breasts),
                        "images": [int(k) for k in read],
                    },
                )
            )
            for key in read:
                image = images[key]
                heatmap, mask = out.heatmaps.get(key), out.masks.get(key)
                heatmap_key = mask_key = ""
                if heatmap is not None:
                    heatmap_key = batch.save(
                        storage.new_key(project_id, "heatmaps", "png"),
                        _png(heatmap, HEATMAP_MAX_SIDE),
                    )
                if mask is not None:
                    mask_key = batch.save(
                        storage.new_key(project_id, "masks", "png"), _png(mask > 0)
                    )
                scores = out.image_scores.get(key, {})
                lesions = [
                    {k: v for k, v in x.items() if k != "image_key"}
                    for x in out.lesions
                    if str(x.get("image_key")) == key
                ]
                rows.append(
                    Prediction(
                        project_id=project_id,
                        model_version=version,
                        exam_id=exam_id,
                        image=image,
                        job=job,
                        outputs={
                            "level": "image",
                            "probability": _positive(scores),
                            "scores": json_safe(scores),
                            "lesions": json_safe(lesions),
                            "has_mask": bool(mask is not None and mask.any()),
                        },
                        heatmap_key=heatmap_key,
                        heatmap_kind=out.heatmap_kind if heatmap_key else "",
                        mask_key=mask_key,
                    )
                )
        Prediction.objects.bulk_create(rows)
    return len(rows)


def _reads(version: ModelVersion, exam: Mapping[str, Any]) -> bool:
    return not version.modality or version.modality in (exam["modalities"] or [])


def run_prediction(job: Job, progress: jobs.Progress) -> dict[str, Any]:
    """Run each version on the job's exams of its modality, `batch` exams at a time, and
    store Predictions (never annotations) batch by batch.

    Resumable: an exam that already has this version's exam-level Prediction from this job
    (written in the same transaction as its image rows) is skipped, so a job queued again after
    its worker died redoes only the exams it had not finished. A lesion-crop model's exams
    without a located lesion are left out and listed under "refused"; the job fails with the
    model's message when that leaves it nothing to read.
    """
    api = engine.api()
    version_ids = job.params.get("model_versions") or [job.params["model_version"]]
    versions = list(
        ModelVersion.objects.select_related("project").filter(pk__in=version_ids).order_by("pk")
    )
    exams = list(
        Exam.objects.filter(pk__in=job.params["exams"]).order_by("pk").values("pk", "modalities")
    )
    work = [(v, [e["pk"] for e in exams if _reads(v, e)]) for v in versions]
    total = sum(len(ids) for _, ids in work) or 1
    explain = job.params.get("explain", True)
    done = stored = skipped = 0
    refused: dict[str, list[int]] = {}
    refusal = ""
    for version, exam_ids in work:
        finished = set(
            Prediction.objects.filter(
                job=job, model_version=version, image__isnull=True, exam_id__in=exam_ids
            ).values_list("exam_id", flat=True)
        )
        todo = [e for e in exam_ids if e not in finished]
        skipped += len(exam_ids) - len(todo)
        done += len(exam_ids) - len(todo)
        if not todo:
            continue
        predictor = loaded_predictor(version, engine.default_device())
        step = max(int(job.params.get("batch") or PREDICT_BATCH), 1)
        for start in range(0, len(todo), step):
            chunk = todo[start : start + step]
            manifest, _ = build_manifest(version.project, "any", chunk)
            for entry in manifest:  # ground-truth masks are not needed to predict
                for im in entry["images"]:
                    im.pop("mask_key", None)
            cases = cases_from_manifest(manifest)
            missing = set(predictor.unlocated(cases))
            if missing:
                refused.setdefault(str(version.pk), []).extend(int(k) for k in missing)
                refusal = str(api.LesionsRequired(sorted(missing), predictor.recipe.name))
                cases = [c for c in cases if c.key not in missing]
            outputs = (
                predictor(cases, explain=explain, map_max_side=HEATMAP_MAX_SIDE) if cases else []
            )
            stored += store_predictions(version, outputs, job)
            done += len(chunk)
            progress(
                0.05 + 0.9 * done / total,
                f"{version.recipe} v{version.pk}: {done}/{total} exam readings",
            )
    if refused and not stored and not skipped:
        raise jobs.JobFailed(refusal)
    return {
        "model_versions": [v.pk for v in versions],
        "predictions": stored,
        "exams": len(exams),
        "skipped": skipped,
        "refused": refused,
    }
