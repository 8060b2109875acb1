"""Query filters of the imaging API (django-filter).

Filters that look into images, labels or findings use EXISTS subqueries rather than joins, so
an exam matches once however many of its images match and the count query stays cheap.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Exists, OuterRef, Q, QuerySet

from senolab.imaging.models import (
    ClinicalRecord,
    Exam,
    ExamStatus,
    Image,
    Laterality,
    Modality,
    Patient,
    Series,
    Slide,
    View,
)
from senolab.projects import reference

MAX_ID = 2**31 - 1


def _related(name: str) -> Any:
    """The model behind a reverse relation of Exam. Labels and findings belong to the
    annotations app, which depends on imaging: reached through the relation, never imported."""
    return Exam._meta.get_field(name).related_model


def _id(field: str) -> django_filters.NumberFilter:
    # Bounded so an absurd id is a 400, not a database overflow.
    return django_filters.NumberFilter(field_name=field, min_value=0, max_value=MAX_ID)


def _exists_image(**lookups: str) -> Exists:
    return Exists(Image.objects.filter(exam=OuterRef("pk"), **lookups))


def _exists_record(**lookups: Any) -> Exists:
    return Exists(ClinicalRecord.objects.filter(exam=OuterRef("pk"), **lookups))


class ExamFilter(django_filters.FilterSet):
    """Exams by project, patient, modality, laterality, view, BI-RADS, density, status, site,
    study date range and the clinical record (age range, biopsy outcome, has one)."""

    project = _id("project_id")
    patient = _id("patient_id")
    modality = django_filters.ChoiceFilter(choices=Modality.choices, method="by_modality")
    laterality = django_filters.ChoiceFilter(choices=Laterality.choices, method="by_laterality")
    view = django_filters.ChoiceFilter(choices=[c for c in View.choices if c[0]], method="by_view")
    birads = django_filters.CharFilter(method="by_birads", max_length=4)
    density = django_filters.CharFilter(method="by_density", max_length=1)
    status = django_filters.ChoiceFilter(choices=ExamStatus.choices)
    site = django_filters.CharFilter(field_name="site")
    date_from = django_filters.DateFilter(field_name="study_date", lookup_expr="gte")
    date_to = django_filters.DateFilter(field_name="study_date", lookup_expr="lte")
    # The clinical record (one per exam): age range, biopsy outcome, whether there is one.
    age_min = django_filters.NumberFilter(method="by_age", min_value=0, max_value=150)
    age_max = django_filters.NumberFilter(method="by_age", min_value=0, max_value=150)
    biopsy_outcome = django_filters.CharFilter(method="by_biopsy", max_length=20)
    has_clinical_record = django_filters.BooleanFilter(method="by_has_record")

    class Meta:
        model = Exam
        fields: list[str] = []

    def is_valid(self) -> bool:
        valid = super().is_valid()
        low, high = (self.form.cleaned_data.get(k) for k in ("age_min", "age_max"))
        if valid and low is not None and high is not None and low > high:
            self.form.add_error("age_max", "The age range is empty: age_max is below age_min.")
            return False
        return valid

    def by_age(self, queryset: QuerySet, name: str, value: Any) -> QuerySet:
        lookup = "age_at_exam__gte" if name == "age_min" else "age_at_exam__lte"
        return queryset.filter(_exists_record(**{lookup: value}))

    def by_biopsy(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(_exists_record(biopsy_outcome__iexact=value))

    def by_has_record(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        if value is None:
            return queryset
        return queryset.filter(_exists_record()) if value else queryset.exclude(_exists_record())

    def _seen(self, rows: QuerySet) -> QuerySet:
        """Labels or findings less the reference ones a blind reader may not filter by."""
        return reference.without_hidden_reference(rows, getattr(self.request, "user", None))

    def by_modality(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        has_slide = Exists(Slide.objects.filter(exam=OuterRef("pk")))
        if value == Modality.SM:
            return queryset.filter(Q(_exists_image(modality=value)) | Q(has_slide))
        return queryset.filter(_exists_image(modality=value))

    def by_laterality(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(_exists_image(laterality=value))

    def by_view(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(_exists_image(view=value))

    def by_birads(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        labels = self._seen(_related("labels").objects.filter(exam=OuterRef("pk"), birads=value))
        findings = _related("findings").objects.filter(
            exam=OuterRef("pk"), birads=value, deleted=False
        )
        return queryset.filter(Q(Exists(labels)) | Q(Exists(self._seen(findings))))

    def by_density(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        labelled = Exists(
            self._seen(_related("labels").objects.filter(exam=OuterRef("pk"), density=value))
        )
        recorded = Exists(ClinicalRecord.objects.filter(exam=OuterRef("pk"), breast_density=value))
        return queryset.filter(Q(labelled) | Q(recorded))


class PatientFilter(django_filters.FilterSet):
    """Patients by project or pseudonym."""

    project = _id("project_id")
    pseudonym = django_filters.CharFilter(field_name="pseudonym")

    class Meta:
        model = Patient
        fields: list[str] = []


class SeriesFilter(django_filters.FilterSet):
    """Series by project, exam or modality."""

    project = _id("project_id")
    exam = _id("exam_id")
    modality = django_filters.ChoiceFilter(choices=Modality.choices)

    class Meta:
        model = Series
        fields: list[str] = []


class ImageFilter(django_filters.FilterSet):
    """Images by project, exam, series, modality, laterality or view."""

    project = _id("project_id")
    exam = _id("exam_id")
    series = _id("series_id")
    modality = django_filters.ChoiceFilter(choices=Modality.choices)
    laterality = django_filters.ChoiceFilter(choices=Laterality.choices)
    view = django_filters.ChoiceFilter(choices=[c for c in View.choices if c[0]])

    class Meta:
        model = Image
        fields: list[str] = []


class SlideFilter(django_filters.FilterSet):
    """Slides by project or exam."""

    project = _id("project_id")
    exam = _id("exam_id")

    class Meta:
        model = Slide
        fields: list[str] = []
