from django.urls import path
from rest_framework.routers import DefaultRouter

from ml.api.rounds import ActiveLearningRoundViewSet
from ml.api.snapshots import SnapshotViewSet
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
router.register("snapshots", SnapshotViewSet, basename="snapshot")
router.register("active-rounds", ActiveLearningRoundViewSet, basename="active-round")
urlpatterns = [path("recipes/", RecipeListView.as_view(), name="recipes"), *router.urls]
