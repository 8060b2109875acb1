"""API representations of training runs, model versions and predictions."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ml.models import GroundTruth, HeatmapKind, ModelVersion, Prediction, TrainingRun
from senolab.jobs.api.serializers import JobSerializer
from senolab.projects.models import Project

CURVE_KEYS = ("roc", "confusion", "calibration")


def flat_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The scalar metrics (and the AUC interval) without the curves."""
    return {k: v for k, v in (metrics or {}).items() if k not in CURVE_KEYS}


class RecipeSerializer(serializers.Serializer):
    """One shipped training recipe (a TOML file under ml/recipes/)."""

    name = serializers.CharField()
    task = serializers.ChoiceField(choices=["classification", "segmentation", "detection"])
    # A recipe field named like Field.label, which the stubs type as a string.
    label = serializers.CharField()  # type: ignore[assignment]
    modality = serializers.CharField()
    classes = serializers.ListField(child=serializers.CharField())
    network = serializers.CharField()
    epochs = serializers.IntegerField()
    description = serializers.CharField()


class RecipeListSerializer(serializers.Serializer):
    recipes = RecipeSerializer(many=True)


class TrainingRunSerializer(serializers.ModelSerializer):
    job = JobSerializer(read_only=True)
    status = serializers.SerializerMethodField()
    snapshot_hash = serializers.CharField(
        source="snapshot.content_hash", read_only=True, default=""
    )
    model_version = serializers.SerializerMethodField()
    created_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "project",
            "recipe",
            "status",
            "job",
            "snapshot",
            "snapshot_hash",
            "history",
            "params",
            "device",
            "parent_version",
            "model_version",
            "created_by",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_status(self, run: TrainingRun) -> str:
        # The job row is the truth (a killed worker's job is failed by the reaper, not the run).
        return run.job.status if run.job is not None else run.status

    def get_model_version(self, run: TrainingRun) -> int | None:
        version = getattr(run, "model_version", None)
        return version.pk if version else None


class TrainingRunCreateSerializer(serializers.Serializer):
    project = serializers.PrimaryKeyRelatedField(queryset=Project.objects.all())
    recipe = serializers.CharField(max_length=100)
    seed = serializers.IntegerField(default=0, min_value=0)
    ground_truth = serializers.ChoiceField(choices=GroundTruth.choices, default=GroundTruth.ANY)
    ground_truth_reader = serializers.SlugRelatedField(
        slug_field="username",
        queryset=get_user_model().objects.all(),
        required=False,
        allow_null=True,
        help_text="The reader whose reads are the ground truth (ground_truth 'reader').",
    )
    epochs = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=1000,
        help_text="Train this many epochs instead of the recipe's (kept in the run's params).",
    )
    parent_version = serializers.PrimaryKeyRelatedField(
        queryset=ModelVersion.objects.all(), required=False, allow_null=True
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        reader = attrs.get("ground_truth_reader")
        if attrs.get("ground_truth") == GroundTruth.READER:
            if reader is None or not attrs["project"].memberships.filter(user=reader).exists():
                raise serializers.ValidationError(
                    {"ground_truth_reader": ["Name a reader of this project."]}
                )
        else:
            attrs.pop("ground_truth_reader", None)
        return attrs


class ModelVersionSerializer(serializers.ModelSerializer):
    metrics = serializers.SerializerMethodField()
    trained_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "project",
            "task",
            "label",
            "modality",
            "recipe",
            "snapshot",
            "snapshot_hash",
            "training_run",
            "parent",
            "artifact_sha256",
            "artifact_size",
            "metrics",
            "temperature",
            "threshold",
            "status",
            "trained_by",
            "created_at",
        ]
        read_only_fields = fields

    def get_metrics(self, version: ModelVersion) -> dict[str, Any]:
        return flat_metrics(version.metrics)


class ModelVersionDetailSerializer(ModelVersionSerializer):
    curves = serializers.SerializerMethodField()

    class Meta(ModelVersionSerializer.Meta):
        fields = [*ModelVersionSerializer.Meta.fields, "recipe_config", "curves"]
        read_only_fields = fields

    def get_curves(self, version: ModelVersion) -> dict[str, Any]:
        """ROC points, confusion matrix and calibration bins, as the engine computed them."""
        return {k: (version.metrics or {}).get(k) for k in CURVE_KEYS}


class PredictRequestSerializer(serializers.Serializer):
    exams = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=10_000
    )
    explain = serializers.BooleanField(default=True)


class EvaluateRequestSerializer(serializers.Serializer):
    split = serializers.ChoiceField(choices=["train", "val", "test", "all"], default="test")


class LabelChoiceSerializer(serializers.Serializer):
    field = serializers.ChoiceField(choices=["density", "birads", "pathology"])
    value = serializers.CharField()


class PredictionSerializer(serializers.ModelSerializer):
    """A proposal: exam level (`image` null: the exam's scores, once) or one image the model
    read (its scores, lesions, mask and map), with its version and its review."""

    heatmap_url = serializers.SerializerMethodField()
    mask_url = serializers.SerializerMethodField()
    model = serializers.SerializerMethodField()
    model_status = serializers.CharField(source="model_version.status", read_only=True)
    model_task = serializers.CharField(source="model_version.task", read_only=True)
    # Empty when the prediction has no map (the model's choices leave "" out of the schema).
    heatmap_kind = serializers.ChoiceField(
        choices=HeatmapKind.choices, allow_blank=True, read_only=True
    )
    # For a classifier's exam-level scores: the exam label accepting them records.
    label_choice = serializers.SerializerMethodField()

    class Meta:
        model = Prediction
        fields = [
            "id",
            "project",
            "model_version",
            "model",
            "model_status",
            "model_task",
            "exam",
            "image",
            "job",
            "outputs",
            "heatmap_url",
            "heatmap_kind",
            "mask_url",
            "label_choice",
            "provenance",
            "reviewed_by",
            "reviewed_at",
            "review",
            "created_at",
        ]
        read_only_fields = fields

    def get_heatmap_url(self, prediction: Prediction) -> str | None:
        if not prediction.heatmap_key:
            return None
        return f"/api/predictions/{prediction.pk}/heatmap/"

    def get_mask_url(self, prediction: Prediction) -> str | None:
        if not prediction.mask_key:
            return None
        return f"/api/predictions/{prediction.pk}/mask/"

    @extend_schema_field(LabelChoiceSerializer(allow_null=True))
    def get_label_choice(self, prediction: Prediction) -> dict[str, str] | None:
        from ml.services.review import label_choice

        return label_choice(prediction)

    def get_model(self, prediction: Prediction) -> str:
        return str(prediction.model_version)
