"""Imaging objects as the API shows them: pseudonyms only, never an original identifier."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from senolab.imaging import tiles
from senolab.imaging.models import (
    ClinicalRecord,
    Exam,
    Image,
    Patient,
    PseudonymEntry,
    Series,
    Slide,
)
from senolab.projects import reference
from senolab.projects.api.clinical import check_clinical_fields
from senolab.projects.schema import DENSITY, LabelSchemaError


class PatientSerializer(serializers.ModelSerializer):
    """A patient by pseudonym, with how many exams they have."""

    exam_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Patient
        fields = ["id", "project", "pseudonym", "exam_count", "created_at"]


class ImageSerializer(serializers.ModelSerializer):
    """Metadata of one image; pixels come from render.png, pixels and dicom."""

    levels = serializers.SerializerMethodField(help_text="[rows, columns] of each cached level")

    class Meta:
        model = Image
        fields = [
            "id",
            "project",
            "exam",
            "series",
            "instance_number",
            "modality",
            "laterality",
            "view",
            "frame_count",
            "rows",
            "columns",
            "samples_per_pixel",
            "bits_allocated",
            "bits_stored",
            "pixel_spacing",
            "photometric_interpretation",
            "transfer_syntax_uid",
            "window_center",
            "window_width",
            "burned_in_annotation",
            "pixel_status",
            "pixel_status_reason",
            "source_format",
            "sha256",
            "size_bytes",
            "levels",
            "created_at",
        ]

    @extend_schema_field(
        serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))
    )
    def get_levels(self, image: Image) -> list[list[int]]:
        return [entry["shape"][1:3] for entry in (image.pixel_cache or {}).get("levels", [])]


class SeriesSerializer(serializers.ModelSerializer):
    """A series with its images."""

    images = ImageSerializer(many=True, read_only=True)

    class Meta:
        model = Series
        fields = [
            "id",
            "project",
            "exam",
            "series_uid",
            "modality",
            "number",
            "description",
            "body_part",
            "images",
        ]


class SlideSerializer(serializers.ModelSerializer):
    """A whole-slide image: its pyramid, resolution and where its tiles are."""

    dzi_url = serializers.SerializerMethodField()
    tiles_url = serializers.SerializerMethodField(
        help_text="Where this user's tiles are, signed for this slide and expiring "
        "(append {level}/{col}_{row}.jpeg); the session-checked tiles/ path serves the same."
    )

    class Meta:
        model = Slide
        fields = [
            "id",
            "project",
            "exam",
            "series",
            "format",
            "width",
            "height",
            "levels",
            "mpp_x",
            "mpp_y",
            "objective_power",
            "vendor",
            "sha256",
            "size_bytes",
            "dzi_url",
            "tiles_url",
            "created_at",
        ]

    def get_dzi_url(self, slide: Slide) -> str:
        return f"/api/slides/{slide.pk}/dzi.xml"

    def get_tiles_url(self, slide: Slide) -> str:
        request = self.context.get("request")
        user_id = getattr(getattr(request, "user", None), "pk", None)
        if user_id is None:  # the schema generator has no user
            return f"/api/slides/{slide.pk}/tiles/"
        return f"/api/slides/{slide.pk}/t/{tiles.make_token(user_id, slide.pk)}/"


class ClinicalRecordSerializer(serializers.ModelSerializer):
    """Clinical data of an exam; `fields` must fit the project's clinical schema."""

    breast_density = serializers.ChoiceField(
        choices=[("", "unknown"), *[(d, d) for d in DENSITY]], required=False, allow_blank=True
    )
    updated_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="On PUT, the updated_at you read (null when there was no record yet): a "
        "record saved since then is a 409 whose error.detail.current is the stored record.",
    )

    class Meta:
        model = ClinicalRecord
        fields = [
            "id",
            "exam",
            "patient",
            "age_at_exam",
            "breast_density",
            "risk_factors",
            "biopsy_outcome",
            "receptor_status",
            "fields",
            "updated_at",
        ]
        read_only_fields = ["id", "exam", "patient"]
        extra_kwargs = {"age_at_exam": {"max_value": 150}}

    def validate_risk_factors(self, value: Any) -> Any:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise serializers.ValidationError("A list of strings.")
        return value

    def validate_receptor_status(self, value: Any) -> Any:
        if not isinstance(value, dict):
            raise serializers.ValidationError('An object, e.g. {"ER": "positive"}.')
        return value

    def validate_fields(self, value: Any) -> Any:
        try:
            check_clinical_fields(self.context["clinical_schema"], value)
        except LabelSchemaError as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return value


class ExamListSerializer(serializers.ModelSerializer):
    """One row of the exam list: no nested objects, counts annotated by the query."""

    patient_pseudonym = serializers.CharField(source="patient.pseudonym", read_only=True)
    image_count = serializers.IntegerField(read_only=True)
    slide_count = serializers.IntegerField(read_only=True)
    modalities = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Exam
        fields = [
            "id",
            "project",
            "patient",
            "patient_pseudonym",
            "accession",
            "study_date",
            "site",
            "modalities",
            "description",
            "status",
            "source",
            "image_count",
            "slide_count",
            "created_at",
        ]

    def to_representation(self, exam: Exam) -> dict[str, Any]:
        # The exam list is the API's hottest read: one dict literal per row instead of DRF's
        # per-field machinery roughly halves its serialisation cost. The declared fields still
        # drive validation of nothing (read-only) and the schema; a test keeps both equal.
        created = self.fields["created_at"]
        return {
            "id": exam.pk,
            "project": exam.project_id,
            "patient": exam.patient_id,
            "patient_pseudonym": exam.patient.pseudonym,
            "accession": exam.accession,
            "study_date": exam.study_date.isoformat() if exam.study_date else None,
            "site": exam.site,
            "modalities": [str(m) for m in exam.modalities or []],
            "description": self.description_for(exam),
            "status": exam.status,
            "source": exam.source,
            "image_count": getattr(exam, "image_count", None),
            "slide_count": getattr(exam, "slide_count", None),
            "created_at": created.to_representation(exam.created_at),
        }

    def description_for(self, exam: Exam) -> str:
        """The description, less one that may name the reference (importers write the class,
        "BUSI benign") for a reader of a blind project (senolab.projects.reference)."""
        request = self.context.get("request")
        if request is None:
            return exam.description
        # Worked out once per response: a list shares this (child) serializer for every row.
        if not hasattr(self, "_blind"):
            self._blind = reference.blind_project_ids(request.user)
            self._with_reference: dict[int, set[int]] = {}
        if exam.project_id not in self._blind:
            return exam.description
        if exam.project_id not in self._with_reference:
            self._with_reference[exam.project_id] = reference.exams_with_reference(
                Q(project_id=exam.project_id)
            )
        return reference.blind_description(exam, self._blind, self._with_reference[exam.project_id])


class ExamDetailSerializer(ExamListSerializer):
    """An exam with its series and images, slides and clinical record."""

    series = SeriesSerializer(many=True, read_only=True)
    slides = SlideSerializer(many=True, read_only=True)
    clinical_record = serializers.SerializerMethodField()

    class Meta(ExamListSerializer.Meta):
        fields = [*ExamListSerializer.Meta.fields, "series", "slides", "clinical_record"]

    def to_representation(self, exam: Exam) -> dict[str, Any]:
        data = serializers.ModelSerializer.to_representation(self, exam)
        data["description"] = self.description_for(exam)
        return data

    @extend_schema_field(ClinicalRecordSerializer(allow_null=True))
    def get_clinical_record(self, exam: Exam) -> dict[str, Any] | None:
        record = getattr(exam, "clinical_record", None)
        return ClinicalRecordSerializer(record).data if record is not None else None


class PseudonymEntrySerializer(serializers.ModelSerializer):
    """One row of the pseudonym map (owners only): original identifier -> pseudonym."""

    pseudonym = serializers.CharField(source="patient.pseudonym", read_only=True)
    # Decrypted here, for owners: the rows hold them encrypted (senolab.imaging.pseudonym_key).
    original_patient_id = serializers.CharField(read_only=True)
    original_patient_name = serializers.CharField(read_only=True)

    class Meta:
        model = PseudonymEntry
        fields = [
            "id",
            "patient",
            "pseudonym",
            "original_patient_id",
            "original_patient_name",
            "date_offset_days",
            "created_at",
        ]
