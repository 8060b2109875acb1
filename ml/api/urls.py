from django.urls import path
from rest_framework.routers import DefaultRouter

from ml.api.artifacts import ModelImportView, ModelPackageView
from ml.api.exports import DatasetExportViewSet
from ml.api.views import (
    ModelVersionViewSet,
    PredictionViewSet,
    RecipeListView,
    TrainingRunViewSet,
)

router = DefaultRouter()
router.register("training-runs", TrainingRunViewSet, basename="training-run")
router.register("model-versions", ModelVersionViewSet, basename="model-version")
router.register("predictions", PredictionViewSet, basename="prediction")
router.register("dataset-exports", DatasetExportViewSet, basename="dataset-export")
urlpatterns = [
    path("recipes/", RecipeListView.as_view(), name="recipes"),
    # Before the router: "import" would otherwise be read as a version id.
    path("model-versions/import/", ModelImportView.as_view(), name="model-version-import"),
    path(
        "model-versions/<int:pk>/package/",
        ModelPackageView.as_view(),
        name="model-version-package",
    ),
    *router.urls,
]
