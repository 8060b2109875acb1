"""Breast imaging cases: Patient (pseudonym) -> Exam -> Series -> Image, Slide, ClinicalRecord.

Nothing here holds an original identifier: those live only in PseudonymEntry, which only project
owners may read. Every row carries its project so that permission filtering is one indexed join.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from senolab.imaging.pseudonym_key import decrypt
from senolab.projects.models import Project


class Modality(models.TextChoices):
    MG = "MG", "Mammography"
    US = "US", "Ultrasound"
    MR = "MR", "Magnetic resonance"
    SM = "SM", "Slide microscopy"
    OT = "OT", "Other"


class Laterality(models.TextChoices):
    LEFT = "L", "Left"
    RIGHT = "R", "Right"
    BOTH = "B", "Both"
    UNKNOWN = "U", "Unknown"


class View(models.TextChoices):
    CC = "CC", "Cranio-caudal"
    MLO = "MLO", "Medio-lateral oblique"
    ML = "ML", "Medio-lateral"
    LM = "LM", "Latero-medial"
    LMO = "LMO", "Latero-medial oblique"
    XCCL = "XCCL", "Exaggerated CC, lateral"
    XCCM = "XCCM", "Exaggerated CC, medial"
    FB = "FB", "From below"
    SIO = "SIO", "Superolateral to inferomedial oblique"
    OTHER = "OTHER", "Other"
    NONE = "", "Not applicable"


class ExamStatus(models.TextChoices):
    NEW = "new", "New"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"


class PixelStatus(models.TextChoices):
    """Whether an image's pixels may carry burned-in text (see senolab.imaging.deid.burned_in)."""

    CLEAN = "clean", "Clean"
    QUARANTINED = "quarantined", "Quarantined: may carry burned-in text"
    CLEANED = "cleaned", "Cleaned by masking configured regions"
    REVIEWED_CLEAN = "reviewed_clean", "Reviewed: no identifying text"


class ImageQuerySet(models.QuerySet["Image"]):
    def usable_for_research(self) -> ImageQuerySet:
        """Images whose pixels may leave the viewer: training snapshots and exports take these
        only (a quarantined image may show a name burned into its pixels)."""
        return self.exclude(pixel_status=PixelStatus.QUARANTINED)


class Patient(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="patients")
    pseudonym = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "pseudonym"], name="unique_patient_pseudonym"
            )
        ]

    def __str__(self) -> str:
        return self.pseudonym


class Exam(models.Model):
    """One study of one patient: any number of series and modalities, plus its clinical record."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="exams")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="exams")
    study_uid = models.CharField(max_length=64, help_text="Remapped StudyInstanceUID")
    accession = models.CharField(max_length=64, blank=True, help_text="Pseudonymous accession")
    study_date = models.DateField(
        null=True, blank=True, help_text="Shifted by the patient's offset"
    )
    site = models.CharField(max_length=100, blank=True, db_index=True)
    modalities = models.JSONField(default=list, blank=True)
    description = models.CharField(max_length=200, blank=True)
    status = models.CharField(
        max_length=20, choices=ExamStatus.choices, default=ExamStatus.NEW, db_index=True
    )
    # Where the exam came from (importer name, e.g. "mini-mias", "busi", "dicom", "demo").
    source = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-study_date", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "study_uid"], name="unique_exam_study_uid")
        ]
        indexes = [
            models.Index(fields=["project", "status"]),
            models.Index(fields=["project", "id"]),
        ]

    def __str__(self) -> str:
        return f"Exam {self.pk} of {self.patient}"


class Series(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    exam = models.ForeignKey(Exam, on_delete=models.CASCADE, related_name="series")
    series_uid = models.CharField(max_length=64)
    modality = models.CharField(max_length=4, choices=Modality.choices, default=Modality.OT)
    number = models.IntegerField(null=True, blank=True)
    description = models.CharField(max_length=200, blank=True)
    body_part = models.CharField(max_length=40, blank=True)

    class Meta:
        verbose_name_plural = "series"
        ordering = ["number", "id"]
        constraints = [
            models.UniqueConstraint(fields=["exam", "series_uid"], name="unique_series_uid")
        ]

    def __str__(self) -> str:
        return f"{self.modality} series {self.number or self.pk}"


class Image(models.Model):
    """One DICOM instance or raster file, stored de-identified under a generated key."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    exam = models.ForeignKey(Exam, on_delete=models.CASCADE, related_name="images")
    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="images")
    sop_instance_uid = models.CharField(max_length=64, help_text="Remapped SOPInstanceUID")
    instance_number = models.IntegerField(null=True, blank=True)
    modality = models.CharField(max_length=4, choices=Modality.choices, default=Modality.OT)
    laterality = models.CharField(
        max_length=1, choices=Laterality.choices, default=Laterality.UNKNOWN, db_index=True
    )
    view = models.CharField(max_length=8, choices=View.choices, blank=True, db_index=True)
    frame_count = models.PositiveIntegerField(default=1)
    rows = models.PositiveIntegerField()
    columns = models.PositiveIntegerField()
    samples_per_pixel = models.PositiveSmallIntegerField(default=1)
    bits_allocated = models.PositiveSmallIntegerField(default=8)
    bits_stored = models.PositiveSmallIntegerField(default=8)
    pixel_spacing = models.JSONField(null=True, blank=True, help_text="[row, column] in mm")
    photometric_interpretation = models.CharField(max_length=20, default="MONOCHROME2")
    transfer_syntax_uid = models.CharField(max_length=64, blank=True)
    window_center = models.FloatField(null=True, blank=True)
    window_width = models.FloatField(null=True, blank=True)
    burned_in_annotation = models.BooleanField(default=False)
    # Quarantine for burned-in text: set at ingest, lifted by a reviewer or by masking.
    pixel_status = models.CharField(
        max_length=16, choices=PixelStatus.choices, default=PixelStatus.CLEAN, db_index=True
    )
    pixel_status_reason = models.CharField(max_length=200, blank=True)
    pixel_reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    pixel_reviewed_at = models.DateTimeField(null=True, blank=True)
    # After masking: the unmasked de-identified original, readable by project owners only.
    unmasked_storage_key = models.CharField(max_length=255, blank=True)
    # "dicom", "png", "jpeg", "tiff", "pgm", "npy"
    source_format = models.CharField(max_length=10, default="dicom")
    # The de-identified original as it came, under a generated storage key.
    storage_key = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64, help_text="Of the stored (de-identified) file")
    source_sha256 = models.CharField(max_length=64, help_text="Of the bytes as uploaded")
    size_bytes = models.BigIntegerField(default=0)
    # Fast-decoding derived pixels written once at ingest (see senolab.imaging.pixelcache).
    pixel_cache_key = models.CharField(max_length=255, blank=True)
    pixel_cache = models.JSONField(default=dict, blank=True, help_text="format, levels, dtype")
    # Non-identifying acquisition attributes kept for research (kVp, manufacturer model, ...).
    extra = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ImageQuerySet.as_manager()

    class Meta:
        ordering = ["series_id", "instance_number", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "sop_instance_uid"], name="unique_image_sop"
            ),
            models.UniqueConstraint(
                fields=["project", "source_sha256"], name="unique_image_source"
            ),
        ]
        indexes = [models.Index(fields=["project", "modality"])]

    def __str__(self) -> str:
        return f"{self.modality} {self.laterality}-{self.view or '?'} image {self.pk}"


class Slide(models.Model):
    """A whole-slide image with its pyramid (levels) and resolution (microns per pixel)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    exam = models.ForeignKey(Exam, on_delete=models.CASCADE, related_name="slides")
    series = models.ForeignKey(
        Series, null=True, blank=True, on_delete=models.CASCADE, related_name="slides"
    )
    # "svs", "tiff", "dicom-sm", "ndpi", ...
    format = models.CharField(max_length=20)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    # [{"width": w, "height": h, "downsample": d}, ...] level 0 first.
    levels = models.JSONField(default=list)
    mpp_x = models.FloatField(null=True, blank=True)
    mpp_y = models.FloatField(null=True, blank=True)
    objective_power = models.FloatField(null=True, blank=True)
    vendor = models.CharField(max_length=60, blank=True)
    storage_key = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    source_sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "source_sha256"], name="unique_slide_source")
        ]

    def __str__(self) -> str:
        return f"Slide {self.pk} ({self.width}x{self.height})"


class ClinicalRecord(models.Model):
    """Clinical data of an exam (or of a patient when exam is empty), validated on save."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="clinical_records")
    exam = models.OneToOneField(
        Exam, null=True, blank=True, on_delete=models.CASCADE, related_name="clinical_record"
    )
    age_at_exam = models.PositiveSmallIntegerField(null=True, blank=True)
    breast_density = models.CharField(max_length=1, blank=True)
    risk_factors = models.JSONField(default=list, blank=True)
    biopsy_outcome = models.CharField(max_length=20, blank=True)
    receptor_status = models.JSONField(default=dict, blank=True, help_text="ER, PR, HER2, Ki67")
    fields = models.JSONField(
        default=dict, blank=True, help_text="Per the project's clinical_schema"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Clinical record of {self.patient}"


class DeidentificationKey(models.Model):
    """The per-project secret that makes pseudonyms and UID remapping consistent, encrypted with
    the pseudonym key from settings (senolab.imaging.pseudonyms). Never served by the API."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="deid_key")
    secret = models.TextField(help_text="Fernet token under SENOLAB_PSEUDONYM_KEY")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"de-identification key of project {self.project_id}"


class PseudonymEntry(models.Model):
    """The pseudonym map: original patient identifier -> pseudonym and date offset. Owners only.

    The original identifiers are stored encrypted (Fernet under the pseudonym key from
    settings) and found by a keyed digest, so a database dump alone names nobody; read them
    through `original_patient_id` / `original_patient_name` and look entries up with
    `senolab.imaging.pseudonyms.entry_for`
    (the key: senolab.imaging.pseudonym_key).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    patient = models.OneToOneField(
        Patient, on_delete=models.CASCADE, related_name="pseudonym_entry"
    )
    original_id_digest = models.CharField(
        max_length=64, help_text="HMAC of the original patient id under the project's secret"
    )
    original_patient_id_encrypted = models.TextField()
    original_patient_name_encrypted = models.TextField(blank=True)
    date_offset_days = models.IntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "pseudonym entries"
        constraints = [
            models.UniqueConstraint(
                fields=["project", "original_id_digest"], name="unique_pseudonym_source"
            )
        ]

    def __str__(self) -> str:
        return f"pseudonym entry {self.pk}"

    @property
    def original_patient_id(self) -> str:
        return decrypt(self.original_patient_id_encrypted)

    @property
    def original_patient_name(self) -> str:
        return decrypt(self.original_patient_name_encrypted)
