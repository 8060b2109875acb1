from django.contrib import admin

from ml.models import (
    ActiveLearningPolicy,
    DatasetSnapshot,
    ModelVersion,
    Prediction,
    TrainingRun,
)


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


@admin.register(ActiveLearningPolicy)
class ActiveLearningPolicyAdmin(admin.ModelAdmin):
    list_display = ["project", "after_training", "strategy", "budget", "budget_minutes"]
    list_filter = ["after_training", "strategy"]
