"""Admin views of findings, labels and reading assignments (read-mostly: the API owns edits)."""

from django.contrib import admin

from annotations.models import ExamLabel, Finding, FindingVersion, Mark, ReadingAssignment


class MarkInline(admin.TabularInline):
    model = Mark
    extra = 0
    fields = ("kind", "image", "slide", "frame", "geometry", "mask_key")
    readonly_fields = ("mask_key",)


@admin.register(Finding)
class FindingAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "project",
        "exam",
        "source",
        "finding_type",
        "birads",
        "version",
        "deleted",
    )
    list_filter = ("source", "deleted", "finding_type")
    inlines = [MarkInline]


@admin.register(FindingVersion)
class FindingVersionAdmin(admin.ModelAdmin):
    list_display = ("finding", "version", "author", "created_at")
    readonly_fields = ("finding", "version", "snapshot", "author", "created_at")


@admin.register(ExamLabel)
class ExamLabelAdmin(admin.ModelAdmin):
    list_display = ("exam", "source", "laterality", "density", "birads", "version", "author")
    list_filter = ("source", "density")


@admin.register(ReadingAssignment)
class ReadingAssignmentAdmin(admin.ModelAdmin):
    list_display = ("exam", "reader", "status", "assigned_at", "started_at", "finished_at")
    list_filter = ("status",)
