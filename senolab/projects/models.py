"""Projects, their label schema, and who may do what in them."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from senolab.projects.schema import default_label_schema


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    ANNOTATOR = "annotator", "Annotator"
    REVIEWER = "reviewer", "Reviewer"
    OWNER = "owner", "Owner"


# Each role may do everything the roles before it may.
ROLE_RANK = {Role.VIEWER: 0, Role.ANNOTATOR: 1, Role.REVIEWER: 2, Role.OWNER: 3}


def default_rejection_reasons() -> list[str]:
    return [
        "Not a lesion (normal tissue or artefact)",
        "Wrong location",
        "Wrong class",
        "Duplicate of another finding",
        "Image quality too poor to judge",
    ]


class Project(models.Model):
    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    # Finding types, BI-RADS, density classes, pathology outcomes and free attributes, per
    # modality; validated by senolab.projects.schema.validate_label_schema.
    label_schema = models.JSONField(default=default_label_schema)
    # Declared fields of the clinical record (JSON-Schema-like, see ClinicalRecord).
    clinical_schema = models.JSONField(default=dict, blank=True)
    # Blind reading: the API sends viewers and annotators no reference data (imported ground
    # truth: reference findings and labels, and the descriptions of exams that carry them).
    hide_reference = models.BooleanField(
        default=False,
        help_text="Viewers and annotators read blind: the API sends them no imported ground truth.",
    )
    # The review loop (issue 17). Blind first read: a reader submits an own read of an exam
    # before the model's proposals are shown to them; both reads are kept.
    blind_first_read = models.BooleanField(
        default=False,
        help_text="Readers submit their own read of an exam before model proposals are shown.",
    )
    # Independent readers: each reader's findings and labels are private to them until the exam
    # is closed (by adjudication or a reviewer).
    private_reads = models.BooleanField(
        default=False,
        help_text="Each reader's findings and labels are private to them until the exam is closed.",
    )
    preannotate_on_ingest = models.BooleanField(
        default=False,
        help_text="Run the active model versions on new exams after ingest (proposals to review).",
    )
    rejection_reasons = models.JSONField(
        default=default_rejection_reasons,
        blank=True,
        help_text="The reasons a reviewer can give for rejecting a model proposal.",
    )
    # When independent reads of one exam disagree enough to need adjudication; keys and defaults
    # are documented in annotations/adjudication.
    adjudication_rules = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="unique_membership")
        ]

    def __str__(self) -> str:
        return f"{self.user} as {self.role} of {self.project}"
