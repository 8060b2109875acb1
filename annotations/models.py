"""Human findings and their marks, exam- and breast-level labels, with versioned history.

Machine proposals never live here: the ML app stores them apart (ml.models), with provenance.
Imported ground truth is stored as findings and labels whose source is "reference".
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from senolab.imaging.models import Exam, Image, Slide
from senolab.projects.models import Project


class Source(models.TextChoices):
    HUMAN = "human", "Expert annotation"
    REFERENCE = "reference", "Imported ground truth"
    # What a reviewer recorded when adjudicating readers who disagreed (annotations.adjudication).
    CONSENSUS = "consensus", "Adjudicated consensus"


class MarkKind(models.TextChoices):
    BOX = "box", "Bounding box"
    ELLIPSE = "ellipse", "Ellipse"
    POLYGON = "polygon", "Polygon"
    FREEHAND = "freehand", "Freehand contour"
    POINT = "point", "Point"
    LENGTH = "length", "Length"
    MASK = "mask", "Segmentation mask"


class Finding(models.Model):
    """One lesion (or other finding) with its labels; its marks may lie on several views."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    exam = models.ForeignKey(Exam, on_delete=models.CASCADE, related_name="findings")
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.HUMAN)
    finding_type = models.CharField(max_length=40, blank=True)
    birads = models.CharField(max_length=4, blank=True, db_index=True)
    pathology = models.CharField(max_length=20, blank=True)
    laterality = models.CharField(max_length=1, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    note = models.TextField(blank=True)
    # Where a finding came from when it was not drawn from scratch: a model proposal accepted
    # ({"kind": "accepted", "prediction": id, "model_version": id}) or edited (the same plus
    # "overlap": {"iou": .., "dice": ..} between the proposal and the final mark). Plain ids, not
    # foreign keys: the annotations app does not depend on the ml app.
    origin = models.JSONField(default=dict, blank=True)
    # Optimistic locking: a save must name the version it edits; a stale one gets HTTP 409.
    version = models.PositiveIntegerField(default=1)
    deleted = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["exam", "source"])]

    def __str__(self) -> str:
        return f"{self.finding_type or 'finding'} {self.pk} (v{self.version})"


class Mark(models.Model):
    """A drawn shape in the pixel coordinates of one image (level 0 for slides)."""

    finding = models.ForeignKey(Finding, on_delete=models.CASCADE, related_name="marks")
    image = models.ForeignKey(
        Image, null=True, blank=True, on_delete=models.CASCADE, related_name="marks"
    )
    slide = models.ForeignKey(
        Slide, null=True, blank=True, on_delete=models.CASCADE, related_name="marks"
    )
    frame = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=20, choices=MarkKind.choices)
    # box: {"x","y","width","height"}; ellipse: {"cx","cy","rx","ry"}; polygon/freehand:
    # {"points": [[x, y], ...]}; point: {"x","y"}; length: {"points": [[x1,y1],[x2,y2]]};
    # mask: {"x","y","width","height"} of the mask's bounding box within the image.
    geometry = models.JSONField(default=dict)
    # Masks are stored as PNG files under generated keys (0/255, one channel).
    mask_key = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(image__isnull=False) | models.Q(slide__isnull=False),
                name="mark_on_image_or_slide",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} mark {self.pk}"


class FindingVersion(models.Model):
    """Every accepted change of a finding: the whole finding (with marks) as it was saved."""

    finding = models.ForeignKey(Finding, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    snapshot = models.JSONField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["finding_id", "version"]
        constraints = [
            models.UniqueConstraint(fields=["finding", "version"], name="unique_finding_version")
        ]

    def __str__(self) -> str:
        return f"finding {self.finding_id} v{self.version}"


class ExamLabel(models.Model):
    """Exam-level (laterality empty) or breast-level (L/R) labels: density, BI-RADS, pathology."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    exam = models.ForeignKey(Exam, on_delete=models.CASCADE, related_name="labels")
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.HUMAN)
    laterality = models.CharField(max_length=1, blank=True)
    density = models.CharField(max_length=1, blank=True, db_index=True)
    birads = models.CharField(max_length=4, blank=True, db_index=True)
    pathology = models.CharField(max_length=20, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    # A value taken from a model's exam-level proposal: {"kind": "accepted", "prediction": id,
    # "model_version": id, "field": "density", "value": "B"} (plain ids, as Finding.origin).
    origin = models.JSONField(default=dict, blank=True)
    version = models.PositiveIntegerField(default=1)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["exam", "source", "laterality", "author"],
                name="unique_exam_label",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        return f"exam {self.exam_id} label {self.pk}"


class ReadingStatus(models.TextChoices):
    ASSIGNED = "assigned", "Assigned"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"


class ReadingAssignment(models.Model):
    """One reader's reading of one exam: who reads what, and how far they are.

    An exam without an assignment is unassigned; the worklist policy decides whether a reader
    may pick it up (the default does, after the reader's own assigned exams).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    exam = models.ForeignKey(Exam, on_delete=models.CASCADE, related_name="readings")
    reader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="readings"
    )
    status = models.CharField(
        max_length=20, choices=ReadingStatus.choices, default=ReadingStatus.ASSIGNED
    )
    # What chose this exam for this reader, e.g. {"round": id, "strategy": "entropy", "rank": 3}
    # for an active-learning round, {"draw": "balanced", "seed": 7} for an assignment draw.
    chosen_by = models.JSONField(default=dict, blank=True)
    # Blind first read: the reader's own findings and labels as submitted before the proposals
    # were revealed (immutable once submitted).
    first_read = models.JSONField(default=dict, blank=True)
    first_read_submitted_at = models.DateTimeField(null=True, blank=True)
    # The same snapshot of the reader's final read, taken when it was submitted.
    final_read = models.JSONField(default=dict, blank=True)
    final_read_submitted_at = models.DateTimeField(null=True, blank=True)
    assigned_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["assigned_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["exam", "reader"], name="unique_exam_reader")
        ]
        indexes = [models.Index(fields=["project", "reader", "status"])]

    def __str__(self) -> str:
        return f"exam {self.exam_id} read by {self.reader_id}: {self.status}"
