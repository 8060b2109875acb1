"""ML records: data set snapshots, training runs, model versions and their predictions.

Predictions are machine output and are kept apart from the experts' annotations (annotations app);
a later review step records, per prediction, whether a person accepted, edited or rejected it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from senolab.imaging.models import Exam, Image
from senolab.jobs.models import Job
from senolab.projects.models import Project


class Split(models.TextChoices):
    TRAIN = "train", "Training"
    VAL = "val", "Validation"
    TEST = "test", "Test"


class GroundTruth(models.TextChoices):
    ANY = "any", "Reference where present, else expert annotations"
    REFERENCE = "reference", "Imported reference only"
    HUMAN = "human", "Expert annotations only"
    # Independent readers (annotations.adjudication): the adjudicated consensus, the majority of
    # the readers, or one named reader's read.
    CONSENSUS = "consensus", "Adjudicated consensus"
    MAJORITY = "majority", "Majority of the readers"
    READER = "reader", "One named reader"


class DatasetSnapshot(models.Model):
    """An immutable, hashed list of annotated cases with their patient-level split.

    `manifest` holds everything needed to rebuild the engine's Cases without reading the
    annotation tables again (labels, lesions, pixel-cache layouts, materialised masks), so later
    edits of the annotations do not change what a run trained on. Training and export share it.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="snapshots")
    content_hash = models.CharField(max_length=64, db_index=True)
    ground_truth = models.CharField(
        max_length=20, choices=GroundTruth.choices, default=GroundTruth.ANY
    )
    # The reader whose reads are the ground truth when ground_truth is "reader".
    ground_truth_reader = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    case_ids = models.JSONField(default=list, help_text="Exam ids, in manifest order")
    split = models.JSONField(default=dict, help_text="exam id -> train / val / test")
    seed = models.IntegerField(default=0)
    fractions = models.JSONField(default=list, blank=True, help_text="[train, val, test]")
    stratify_key = models.CharField(max_length=40, blank=True)
    manifest = models.JSONField(default=list)
    summary = models.JSONField(default=dict, blank=True, help_text="Counts per split and label")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"snapshot {self.content_hash[:12]} ({len(self.case_ids)} cases)"

    def save(self, *args, **kwargs) -> None:
        # Immutable: a snapshot is written once; a changed data set is a new snapshot.
        if self.pk is not None and DatasetSnapshot.objects.filter(pk=self.pk).exists():
            raise ValueError("A dataset snapshot is immutable; build a new one instead.")
        super().save(*args, **kwargs)


class TrainingRun(models.Model):
    """One training of a recipe on a snapshot, run as a Job on the gpu queue.

    Snapshots are RESTRICT (not PROTECT): a snapshot in use cannot be deleted on its own, but
    deleting the whole project removes runs, versions and snapshots together.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="training_runs")
    recipe = models.CharField(max_length=100)
    snapshot = models.ForeignKey(
        DatasetSnapshot, null=True, blank=True, on_delete=models.RESTRICT, related_name="runs"
    )
    job = models.OneToOneField(
        Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="training_run"
    )
    parent_version = models.ForeignKey(
        "ModelVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Fine-tune from this version's weights",
    )
    # Mirrors Job.status at the last update, so lists need no join to show it.
    status = models.CharField(max_length=20, default="queued", db_index=True)
    # Per-epoch metrics: [{"epoch": 1, "train_loss": ..., "val_auc": ...}, ...]
    history = models.JSONField(default=list, blank=True)
    params = models.JSONField(default=dict, blank=True, help_text="seed, fractions, ground truth")
    device = models.CharField(max_length=40, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.recipe} ({self.status})"


class VersionStatus(models.TextChoices):
    CANDIDATE = "candidate", "Candidate"
    ACTIVE = "active", "Active"
    RETIRED = "retired", "Retired"


class ModelVersion(models.Model):
    """A trained model: its artifact (with checksum), lineage, and metrics on the test split."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="model_versions")
    # "classification", "segmentation", "localisation" ... and the label trained on.
    task = models.CharField(max_length=40, db_index=True)
    label = models.CharField(max_length=60, blank=True)
    modality = models.CharField(max_length=4, blank=True)
    recipe = models.CharField(max_length=100)
    recipe_config = models.JSONField(default=dict, blank=True)
    snapshot = models.ForeignKey(
        DatasetSnapshot, null=True, blank=True, on_delete=models.RESTRICT, related_name="versions"
    )
    snapshot_hash = models.CharField(max_length=64)
    training_run = models.OneToOneField(
        TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="model_version"
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    artifact_key = models.CharField(max_length=255)
    artifact_sha256 = models.CharField(max_length=64)
    artifact_size = models.BigIntegerField(default=0)
    # Flat metrics on the snapshot's test split, plus "roc", "confusion", "calibration" curves.
    metrics = models.JSONField(default=dict, blank=True)
    temperature = models.FloatField(default=1.0)
    threshold = models.FloatField(null=True, blank=True)
    status = models.CharField(
        max_length=20, choices=VersionStatus.choices, default=VersionStatus.CANDIDATE, db_index=True
    )
    trained_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "task", "label"],
                condition=models.Q(status="active"),
                name="one_active_version_per_project_task",
            )
        ]

    def __str__(self) -> str:
        return f"{self.recipe} v{self.pk} ({self.status})"


class Provenance(models.TextChoices):
    PROPOSED = "proposed", "Proposed (not reviewed)"
    ACCEPTED = "accepted", "Accepted"
    EDITED = "edited", "Accepted after editing"
    REJECTED = "rejected", "Rejected"


class HeatmapKind(models.TextChoices):
    GRADCAM = "gradcam", "Grad-CAM (classifier)"
    PROBABILITY = "probability", "Probability map (segmentation, detection)"


class Prediction(models.Model):
    """A model's output for one exam (`image` empty: the exam-level scores, once) or for one
    image the model read (that image's scores, lesions, mask and map), apart from human
    annotations. A proposal to review: accepted, edited or rejected, by whom and when."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="predictions"
    )
    exam = models.ForeignKey(Exam, on_delete=models.CASCADE, related_name="predictions")
    image = models.ForeignKey(
        Image, null=True, blank=True, on_delete=models.CASCADE, related_name="predictions"
    )
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Exam level: {"level": "exam", "probability", "label", "scores": {class: p}, "breasts":
    # {"L"|"R": {class: p}}}; image level: {"level": "image", "probability", "label", "scores",
    # "lesions": [{"cx", "cy", "radius", "score"}]}, pixels of the image.
    outputs = models.JSONField(default=dict)
    heatmap_key = models.CharField(max_length=255, blank=True)
    heatmap_kind = models.CharField(max_length=20, choices=HeatmapKind.choices, blank=True)
    # The predicted binary mask of the image (segmentation), a 0/255 PNG at the image's size.
    mask_key = models.CharField(max_length=255, blank=True)
    # Review of the proposal by a person; the annotation it became, if any, is linked later.
    provenance = models.CharField(
        max_length=20, choices=Provenance.choices, default=Provenance.PROPOSED
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    # {"reason": ..} of a rejection; {"findings": [ids], "overlap": {"iou", "dice"}} of an
    # acceptance or edit (the findings carry the same in their origin).
    review = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["model_version", "image"]),
            models.Index(fields=["job", "model_version", "exam"]),
        ]

    def __str__(self) -> str:
        return f"prediction {self.pk} of {self.model_version_id}"


class DatasetExport(models.Model):
    """A data set export: a snapshot chosen by filters, written in the formats asked for as one
    zip in storage (ml.services.exports). Its rows say exactly what left: the snapshot (content
    hash, split) and every finding with the version exported, its source, origin and author."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="exports")
    job = models.OneToOneField(
        Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="dataset_export"
    )
    snapshot = models.ForeignKey(
        DatasetSnapshot, null=True, blank=True, on_delete=models.RESTRICT, related_name="exports"
    )
    formats = models.JSONField(default=list, help_text="The formats asked for")
    filters = models.JSONField(default=dict, blank=True, help_text="The filters asked for")
    # [{"id", "version", "source", "origin", "created_by"}, ...] in export order.
    findings = models.JSONField(default=list, blank=True)
    counts = models.JSONField(default=dict, blank=True, help_text="exams, images, findings, ...")
    archive_key = models.CharField(max_length=255, blank=True)
    archive_sha256 = models.CharField(max_length=64, blank=True)
    archive_size = models.BigIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"export {self.pk} of project {self.project_id}"


class RoundState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running (scoring the pool)"
    OPEN = "open", "Open (its picks lead the worklist)"
    CLOSED = "closed", "Closed"
    FAILED = "failed", "Failed"


class ActiveLearningRound(models.Model):
    """One active-learning round: a model version scores the project's unread pool, a strategy
    picks `budget` exams, and those picks lead the readers' worklist while the round is open.

    `picks` is [{"exam": id, "score": s, "rank": 1..budget}] best first; each picked exam's
    ReadingAssignment records {"round", "strategy", "rank", "score"} in chosen_by. At most one
    round of a project is open: opening one closes the one before.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="al_rounds")
    model_version = models.ForeignKey(
        ModelVersion, null=True, on_delete=models.SET_NULL, related_name="al_rounds"
    )
    strategy = models.CharField(max_length=40)
    params = models.JSONField(default=dict, blank=True, help_text="seed, aggregation, readers")
    budget = models.PositiveIntegerField()
    pool = models.JSONField(default=list, blank=True, help_text="Exam ids scored, sorted")
    picks = models.JSONField(default=list, blank=True)
    state = models.CharField(
        max_length=20, choices=RoundState.choices, default=RoundState.QUEUED, db_index=True
    )
    job = models.OneToOneField(
        Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="al_round"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project"],
                condition=models.Q(state="open"),
                name="one_open_round_per_project",
            )
        ]

    def __str__(self) -> str:
        return f"round {self.pk} of project {self.project_id} ({self.strategy}, {self.state})"


class RetrainingPolicy(models.Model):
    """A project's scheduled retraining (ml.services.retraining): what to train and on which
    snapshot, when to look (a django-celery-beat PeriodicTask kept in step with `cron` or
    `interval_seconds` on every save and deleted with the policy), when a look starts a run
    (enough newly reviewed annotations) and what a challenger must show to replace the champion.
    """

    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, related_name="retraining_policy"
    )
    recipe = models.CharField(max_length=100)
    # Recipe fields replaced for these runs (as a training run's overrides), e.g. {"epochs": 5}.
    overrides = models.JSONField(default=dict, blank=True)
    # The snapshot's exams and ground truth: ml.services.exports.ExportFilters as JSON (modality,
    # reviewed_only, site, dates, label_status, ground_truth, seed).
    filters = models.JSONField(default=dict, blank=True)
    ground_truth_reader = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The schedule, one of the two (neither: runs only when asked). Five cron fields
    # ("minute hour day-of-month month day-of-week") or a period in seconds.
    cron = models.CharField(max_length=100, blank=True)
    interval_seconds = models.PositiveIntegerField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    min_new_annotations = models.PositiveIntegerField(
        default=10, help_text="A scheduled look starts a run only from this many"
    )
    metric = models.CharField(max_length=20, default="auc")
    margin = models.FloatField(default=0.0, help_text="The challenger must win by at least this")
    protected_sites = models.JSONField(
        default=list, blank=True, help_text="Sites the challenger must not be worse on"
    )
    # A site-specific fine-tune: the challenger starts from the active champion's weights (its
    # parent), trains on filters.site's exams and is compared with it on that site's test cases.
    fine_tune = models.BooleanField(
        default=False,
        help_text="Fine-tune the active version on filters.site's exams, compared on that site",
    )
    # The last scheduled look: when, and what it did or why it did nothing.
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_check = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "retraining policies"

    def __str__(self) -> str:
        return f"retraining of {self.recipe} for project {self.project_id}"


class RetrainingDecision(models.TextChoices):
    PENDING = "pending", "Pending (training or evaluating)"
    PROMOTED = "promoted", "Promoted (the challenger is active)"
    KEPT = "kept", "Kept as a candidate"
    FAILED = "failed", "Failed or cancelled before a decision"


class RetrainingRun(models.Model):
    """One retraining: a new snapshot, a challenger trained on it, the challenger and the
    champion evaluated on the snapshot's test split, the paired comparison and the decision.

    `comparison` is {"overall": paired comparison, "sites": {site: paired comparison},
    "manufacturers": {...}, "challenger": figures, "champion": figures} (ml.engine.compare).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="retraining_runs")
    policy = models.ForeignKey(
        RetrainingPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    job = models.OneToOneField(
        Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="retraining_run"
    )
    trigger = models.CharField(max_length=20, help_text="schedule or manual")
    new_annotations = models.PositiveIntegerField(default=0)
    snapshot = models.ForeignKey(
        DatasetSnapshot, null=True, blank=True, on_delete=models.RESTRICT, related_name="+"
    )
    training_run = models.OneToOneField(
        TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="retraining"
    )
    challenger = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    champion = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The policy's rule as it was when the run started.
    metric = models.CharField(max_length=20)
    margin = models.FloatField(default=0.0)
    protected_sites = models.JSONField(default=list, blank=True)
    comparison = models.JSONField(default=dict, blank=True)
    decision = models.CharField(
        max_length=20,
        choices=RetrainingDecision.choices,
        default=RetrainingDecision.PENDING,
        db_index=True,
    )
    reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"retraining {self.pk} of project {self.project_id} ({self.decision})"


class ImageFeatures(models.Model):
    """What a model version made of one image, kept for active learning: the per-version cache
    of embeddings and Monte Carlo dropout samples (Predictions cache the scores).

    Arrays are little-endian float16 bytes: `embedding` (D values, the pooled input of the
    network's head), `probabilities` (C class probabilities in the version's class order; empty
    for segmentation) and `samples` (mc_passes x C dropout probabilities; empty when none were
    asked for). One row per version and image, written in one transaction per prediction batch,
    so a round reads either a whole batch or none of it.
    """

    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="image_features"
    )
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="+")
    exam = models.ForeignKey(Exam, on_delete=models.CASCADE, related_name="+")
    embedding = models.BinaryField()
    probabilities = models.BinaryField(blank=True, default=b"")
    samples = models.BinaryField(blank=True, default=b"")
    mc_passes = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "image"], name="one_feature_row_per_version_image"
            )
        ]
        indexes = [models.Index(fields=["model_version", "exam"])]

    def __str__(self) -> str:
        return f"features of image {self.image_id} by version {self.model_version_id}"


class ActiveLearningPolicy(models.Model):
    """A project's standing order for rounds: with `after_training`, activating a version that
    a training run produced queues a round with this strategy and budget (exams, or readers'
    minutes when `budget_minutes` is set). `params` holds the other round options (seed,
    aggregate, rare_class, rare_share, mc_samples, readers as usernames)."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="al_policy")
    after_training = models.BooleanField(default=False)
    strategy = models.CharField(max_length=40, default="entropy")
    budget = models.PositiveIntegerField(default=20)
    budget_minutes = models.FloatField(null=True, blank=True)
    minutes_per_exam = models.JSONField(
        default=dict, blank=True, help_text="Default minutes per exam by modality, e.g. {'US': 4}"
    )
    params = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "active learning policies"

    def __str__(self) -> str:
        return f"active-learning policy of project {self.project_id}"
