"""Review of proposals: a person accepts, edits or rejects a model's prediction.

Accepting turns a proposal's regions (its lesion circles, its predicted mask) into human
findings through the annotations services, each with `origin` {"kind": "accepted",
"prediction", "model_version"}. Accepting a classifier's exam-level proposal (scores only)
records its class as the reader's own exam label (or one breast's, from the per-breast scores)
when the class is a value of a label field: density, BI-RADS or pathology (`label_value`); the
label's origin names the proposal and the proposed value. Editing creates the finding from the
marks the reviewer drew instead, with "kind": "edited" and the IoU and Dice between the
proposal's region and the final marks on the proposal's image (annotations.agreement).
Rejecting needs a reason from the project's list. Each writes the prediction's provenance,
reviewer and time in the same transaction as the findings, and a proposal is reviewed once
(AlreadyReviewed after that).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from annotations import services as finding_services
from annotations.agreement import dice, iou
from annotations.geometry import encode_mask_png
from annotations.models import ExamLabel, Finding, Mark, Source
from ml.models import Prediction, Provenance, VersionStatus
from ml.services.errors import MLServiceError
from ml.services.snapshots import load_mask
from senolab.imaging.models import Exam, Image


class AlreadyReviewed(MLServiceError):
    field = "provenance"

    def __init__(self, prediction: Prediction) -> None:
        super().__init__(
            f"Proposal {prediction.pk} was already reviewed ({prediction.provenance}); "
            "reload the proposals."
        )


class NothingToAccept(MLServiceError):
    field = "prediction"

    def __init__(self) -> None:
        super().__init__(
            "This proposal outlines no region (no lesion, no mask): its scores are shown with "
            "the exam; record a finding or a label yourself, or edit it with marks."
        )


class NotALabel(MLServiceError):
    field = "prediction"

    def __init__(self, why: str) -> None:
        super().__init__(why)


class UnknownRejectionReason(MLServiceError):
    field = "reason"

    def __init__(self, reasons: list[str]) -> None:
        listed = ", ".join(repr(r) for r in reasons) or "none (the owner sets them)"
        super().__init__(f"Give one of this project's rejection reasons: {listed}.")


class ConfirmationRequired(MLServiceError):
    field = "confirm"

    def __init__(self, count: int, threshold: float) -> None:
        super().__init__(
            f"{count} proposal(s) score at least {threshold:g}: send confirm=true to accept "
            "them all."
        )


# --- reading --------------------------------------------------------------------------------------


def proposals_of(exam: Exam, *, all_versions: bool = False) -> QuerySet[Prediction]:
    """The exam's predictions, newest first: by default those of the project's active
    versions; with all_versions, those of older (candidate, retired) versions too."""
    qs = Prediction.objects.filter(exam=exam).select_related("model_version")
    if not all_versions:
        qs = qs.filter(model_version__status=VersionStatus.ACTIVE)
    return qs.order_by("-created_at", "-id")


# --- regions --------------------------------------------------------------------------------------


def _proposal_marks(prediction: Prediction, image: Image) -> list[dict[str, Any]]:
    """The proposal's regions as annotation mark specs: a circle per lesion, the mask."""
    specs: list[dict[str, Any]] = []
    for lesion in prediction.outputs.get("lesions") or []:
        cx = min(max(float(lesion["cx"]), 0.0), float(image.columns))
        cy = min(max(float(lesion["cy"]), 0.0), float(image.rows))
        r = max(float(lesion.get("radius") or 0.0), 1.0)
        specs.append(
            {
                "image": image.pk,
                "kind": "ellipse",
                "geometry": {"cx": cx, "cy": cy, "rx": r, "ry": r},
            }
        )
    if prediction.mask_key:
        mask = load_mask(prediction.mask_key) > 0
        rows, cols = np.nonzero(mask)
        if len(rows):
            y0, y1, x0, x1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
            png = encode_mask_png(mask[y0:y1, x0:x1])
            specs.append(
                {
                    "image": image.pk,
                    "kind": "mask",
                    "geometry": {
                        "x": int(x0),
                        "y": int(y0),
                        "width": int(x1 - x0),
                        "height": int(y1 - y0),
                    },
                    "mask_png_base64": base64.b64encode(png).decode(),
                }
            )
    return specs


def _region(image: Image, marks: Iterable[Mark | dict[str, Any]]) -> np.ndarray:
    """The union of the marks' areas on `image` as a boolean (rows, columns) array; points and
    lengths outline nothing. Marks are Mark rows or specs ({"kind", "geometry", "mask"})."""
    from PIL import Image as PILImage
    from PIL import ImageDraw

    canvas = PILImage.new("L", (image.columns, image.rows), 0)
    draw = ImageDraw.Draw(canvas)
    for mark in marks:
        kind = mark.kind if isinstance(mark, Mark) else mark["kind"]
        g = (mark.geometry if isinstance(mark, Mark) else mark["geometry"]) or {}
        if kind == "ellipse":
            cx, cy, rx, ry = (float(g[k]) for k in ("cx", "cy", "rx", "ry"))
            draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=255)
        elif kind == "box":
            x, y = float(g["x"]), float(g["y"])
            draw.rectangle((x, y, x + float(g["width"]), y + float(g["height"])), fill=255)
        elif kind in ("polygon", "freehand") and len(g.get("points", [])) >= 3:
            draw.polygon([tuple(map(float, p)) for p in g["points"]], fill=255)
        elif kind == "mask":
            pixels = (load_mask(mark.mask_key) if isinstance(mark, Mark) else mark["mask"]).astype(
                bool
            )
            layer = PILImage.fromarray(pixels.astype(np.uint8) * 255)
            canvas.paste(255, (int(g.get("x", 0)), int(g.get("y", 0))), layer)
            draw = ImageDraw.Draw(canvas)
    return np.asarray(canvas) > 127


def proposal_region(prediction: Prediction) -> np.ndarray:
    """The proposal's lesion circles and predicted mask on its image, as one boolean array."""
    assert prediction.image is not None
    region = _region(
        prediction.image,
        [s for s in _proposal_marks(prediction, prediction.image) if s["kind"] != "mask"],
    )
    if prediction.mask_key:
        region |= load_mask(prediction.mask_key) > 0
    return region


# --- labels from scores ---------------------------------------------------------------------------

# The exam-label field a classifier's learnt label fills; "malignant" (benign-or-normal against
# malignant) fills pathology only for its positive class.
LABEL_FIELDS_OF = {
    "density": "density",
    "birads": "birads",
    "pathology": "pathology",
    "benign_vs_malignant": "pathology",
    "malignant": "pathology",
}


def label_value(prediction: Prediction, laterality: str = "") -> tuple[str, str]:
    """The (exam-label field, value) a classifier's exam-level proposal says, from its top
    class, or for one breast (L/R) from that breast's scores; NotALabel says why not."""
    version = prediction.model_version
    if prediction.image_id is not None:
        raise NotALabel(
            "Only an exam's scores (the exam-level proposal) become a label; an image's "
            "proposal becomes a finding."
        )
    field = LABEL_FIELDS_OF.get(version.label)
    if version.task != "classification" or field is None:
        raise NotALabel(
            f"{version} learns {version.label or version.task!r}, which no exam label records: "
            "record the label yourself."
        )
    outputs = prediction.outputs or {}
    if laterality:
        scores = (outputs.get("breasts") or {}).get(laterality)
        if not scores:
            raise NotALabel(f"This proposal has no scores for the {laterality} breast.")
        name = max(scores, key=lambda k: float(scores[k]))
    else:
        name = str(outputs.get("label") or "")
    config = version.recipe_config or {}
    classes = [str(c) for c in config.get("classes") or []]
    values = list(config.get("values") or []) or classes
    if name not in classes:
        raise NotALabel(f"The proposal's class {name!r} is not one of {version}'s classes.")
    value = values[classes.index(name)]
    if version.label == "malignant":
        if value not in (1, "1", True):
            raise NotALabel(
                f"{name!r} does not say whether the finding is benign or normal: record the "
                "pathology yourself."
            )
        value = "malignant"
    return field, str(value)


def label_choice(prediction: Prediction) -> dict[str, str] | None:
    """What accepting the exam-level proposal would record ({"field", "value"}), or None."""
    if prediction.image_id is not None:
        return None
    try:
        field, value = label_value(prediction)
    except NotALabel:
        return None
    return {"field": field, "value": value}


# --- review ---------------------------------------------------------------------------------------


def _locked(prediction: Prediction) -> Prediction:
    """The prediction row locked for this transaction; AlreadyReviewed when it was reviewed."""
    locked = (
        Prediction.objects.select_for_update(of=("self",))
        .select_related("model_version", "image", "exam", "exam__project")
        .get(pk=prediction.pk)
    )
    if locked.provenance != Provenance.PROPOSED:
        raise AlreadyReviewed(locked)
    return locked


def _origin(prediction: Prediction, kind: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "prediction": prediction.pk,
        "model_version": prediction.model_version_id,
        **extra,
    }


def _finish(prediction: Prediction, user, provenance: str, review: dict[str, Any]) -> Prediction:
    Prediction.objects.filter(pk=prediction.pk).update(
        provenance=provenance, reviewed_by=user, reviewed_at=timezone.now(), review=review
    )
    prediction.refresh_from_db()
    return prediction


def accept_label(prediction: Prediction, user, laterality: str = "") -> ExamLabel:
    """The reader's own exam label (or the `laterality` breast's) set to the class the
    exam-level proposal says (`label_value`), its origin naming the proposal; the reader's
    other label fields are kept."""
    if laterality not in ("", "L", "R"):
        raise NotALabel("Laterality is empty (the exam) or L or R.")
    with transaction.atomic():
        prediction = _locked(prediction)
        field, value = label_value(prediction, laterality)
        exam = prediction.exam
        current = ExamLabel.objects.filter(
            exam=exam, source=Source.HUMAN, laterality=laterality, author=user
        ).first()
        label = finding_services.save_exam_label(
            user,
            exam,
            current.version if current else 0,
            {field: value, "laterality": laterality},
        )
        origin = _origin(prediction, "accepted", field=field, value=value)
        ExamLabel.objects.filter(pk=label.pk).update(origin=origin)
        label.origin = origin
        _finish(
            prediction,
            user,
            Provenance.ACCEPTED,
            {"labels": [label.pk], "field": field, "value": value, "laterality": laterality},
        )
    return label


def accept(prediction: Prediction, user, data: dict[str, Any] | None = None) -> list[Finding]:
    """One human finding per region of the proposal (its labels from `data`: finding_type,
    birads, pathology, laterality, note), its origin naming the proposal and its version.
    An exam-level proposal is accepted as a label instead (`accept_label`)."""
    data = dict(data or {})
    data.pop("marks", None)
    with transaction.atomic():
        prediction = _locked(prediction)
        if prediction.image is None:
            raise NothingToAccept()
        specs = _proposal_marks(prediction, prediction.image)
        if not specs:
            raise NothingToAccept()
        data.setdefault(
            "laterality",
            prediction.image.laterality if prediction.image.laterality in ("L", "R") else "",
        )
        findings = []
        origin = _origin(prediction, "accepted")
        for spec in specs:
            finding = finding_services.create_finding(
                user, prediction.exam, {**data, "marks": [spec]}
            )
            Finding.objects.filter(pk=finding.pk).update(origin=origin)
            finding.origin = origin
            findings.append(finding)
        _finish(prediction, user, Provenance.ACCEPTED, {"findings": [f.pk for f in findings]})
    return findings


def edit(prediction: Prediction, user, data: dict[str, Any]) -> Finding:
    """A human finding from the marks the reviewer drew in place of the proposal's (`data` as
    the findings API takes it), its origin with the IoU and Dice between the proposal's region
    and the final marks on the proposal's image."""
    with transaction.atomic():
        prediction = _locked(prediction)
        if prediction.image is None:
            raise NothingToAccept()
        finding = finding_services.create_finding(user, prediction.exam, data)
        final = _region(prediction.image, finding.marks.filter(image=prediction.image))
        proposed = proposal_region(prediction)
        overlap = {"iou": round(iou(proposed, final), 6), "dice": round(dice(proposed, final), 6)}
        origin = _origin(prediction, "edited", overlap=overlap)
        Finding.objects.filter(pk=finding.pk).update(origin=origin)
        finding.origin = origin
        _finish(prediction, user, Provenance.EDITED, {"findings": [finding.pk], "overlap": overlap})
    return finding


def reject(prediction: Prediction, user, reason: str) -> Prediction:
    """Record that the proposal is wrong, for one of the project's rejection reasons."""
    with transaction.atomic():
        prediction = _locked(prediction)
        reasons = list(prediction.exam.project.rejection_reasons or [])
        if reason not in reasons:
            raise UnknownRejectionReason(reasons)
        return _finish(prediction, user, Provenance.REJECTED, {"reason": reason})


def accept_all(exam: Exam, user, threshold: float, *, confirm: bool) -> dict[str, Any]:
    """Accept every unreviewed proposal of the exam's active versions that outlines a region
    and scores at least `threshold`; ConfirmationRequired (with the count) unless confirm."""
    candidates = [
        p
        for p in proposals_of(exam).filter(provenance=Provenance.PROPOSED, image__isnull=False)
        if float(p.outputs.get("probability") or 0.0) >= threshold
        and (p.outputs.get("lesions") or p.mask_key)
    ]
    if not confirm:
        raise ConfirmationRequired(len(candidates), threshold)
    accepted: dict[int, list[int]] = {}
    with transaction.atomic():
        for prediction in candidates:
            accepted[prediction.pk] = [f.pk for f in accept(prediction, user)]
    return {"accepted": accepted, "threshold": threshold}
