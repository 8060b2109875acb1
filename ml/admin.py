import copy

from django import forms
from django.contrib import admin

from ml.models import (
    ActiveLearningPolicy,
    DatasetSnapshot,
    ModelVersion,
    Prediction,
    RetrainingPolicy,
    RetrainingRun,
    TrainingRun,
)
from ml.services import retraining


@admin.register(DatasetSnapshot)
class DatasetSnapshotAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "content_hash", "ground_truth", "seed", "created_at"]
    list_filter = ["project", "ground_truth"]
    # Immutable: shown, never edited.
    readonly_fields = [f.name for f in DatasetSnapshot._meta.fields]
    exclude = ["manifest"]


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "recipe", "status", "device", "created_by", "created_at"]
    list_filter = ["project", "recipe", "status"]
    readonly_fields = ["snapshot", "job", "history", "params", "device", "created_at"]


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "recipe", "task", "label", "status", "created_at"]
    list_filter = ["project", "task", "status"]
    readonly_fields = [f.name for f in ModelVersion._meta.fields if f.name != "status"]


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = ["id", "model_version", "exam", "image", "provenance", "created_at"]
    list_filter = ["provenance"]
    raw_id_fields = ["exam", "image", "job"]


class RetrainingPolicyForm(forms.ModelForm):
    """Refuses, under the field at fault, what the API refuses (ml.services.retraining)."""

    class Meta:
        model = RetrainingPolicy
        fields = [
            "project",
            "recipe",
            "overrides",
            "filters",
            "ground_truth_reader",
            "cron",
            "interval_seconds",
            "enabled",
            "min_new_annotations",
            "metric",
            "margin",
            "protected_sites",
            "fine_tune",
            "created_by",
        ]

    def clean(self) -> dict:
        data = super().clean() or {}
        policy = copy.copy(self.instance)
        for name, value in data.items():
            setattr(policy, name, value)
        try:
            retraining.check_policy_fields(policy)
        except retraining.RetrainingRefused as exc:
            self.add_error(exc.field if exc.field in self.fields else None, str(exc))
        return data


@admin.register(RetrainingPolicy)
class RetrainingPolicyAdmin(admin.ModelAdmin):
    """Saving writes the policy's PeriodicTask (django-celery-beat) from cron or
    interval_seconds; it is listed under Periodic tasks too."""

    list_display = [
        "id",
        "project",
        "recipe",
        "cron",
        "interval_seconds",
        "enabled",
        "min_new_annotations",
        "metric",
        "margin",
        "last_checked_at",
        "last_check",
    ]
    list_filter = ["enabled", "metric"]
    readonly_fields = ["periodic_task", "last_checked_at", "last_check", "created_at"]
    raw_id_fields = ["ground_truth_reader", "created_by"]

    form = RetrainingPolicyForm


@admin.register(RetrainingRun)
class RetrainingRunAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "policy", "trigger", "decision", "challenger", "created_at"]
    list_filter = ["decision", "trigger"]
    readonly_fields = [f.name for f in RetrainingRun._meta.fields]


@admin.register(ActiveLearningPolicy)
class ActiveLearningPolicyAdmin(admin.ModelAdmin):
    list_display = ["project", "after_training", "strategy", "budget", "budget_minutes"]
    list_filter = ["after_training", "strategy"]
