"""Admin views of patients, exams, series, images and slides. Ingest creates these rows and
their de-identified files: the admin reads them and may not add or delete any (a deletion here
would leave the files behind); images, series, slides and patients are read-only, and of an
exam only its workflow fields (status, site, description) can be corrected."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from senolab.imaging.models import Exam, Image, Patient, Series, Slide


class IngestedAdmin(admin.ModelAdmin):
    """No add or delete; every field read-only except those named in `editable`."""

    editable: tuple[str, ...] = ()

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields if f.name not in self.editable]


@admin.register(Patient)
class PatientAdmin(IngestedAdmin):
    list_display = ("pseudonym", "project", "created_at")
    list_filter = ("project",)
    search_fields = ("pseudonym",)


@admin.register(Exam)
class ExamAdmin(IngestedAdmin):
    list_display = ("id", "project", "patient", "study_date", "site", "status", "source")
    list_filter = ("project", "status", "site")
    search_fields = ("patient__pseudonym", "accession", "description")
    editable = ("status", "site", "description")


@admin.register(Series)
class SeriesAdmin(IngestedAdmin):
    list_display = ("id", "exam", "modality", "number", "description")
    list_filter = ("modality",)


@admin.register(Image)
class ImageAdmin(IngestedAdmin):
    list_display = ("id", "exam", "modality", "laterality", "view", "source_format")
    list_filter = ("modality", "laterality", "view", "source_format")
    search_fields = ("exam__patient__pseudonym",)


@admin.register(Slide)
class SlideAdmin(IngestedAdmin):
    list_display = ("id", "exam", "format", "vendor", "created_at")
