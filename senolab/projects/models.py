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
