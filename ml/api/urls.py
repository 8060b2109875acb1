from django.urls import path
from rest_framework.routers import DefaultRouter

from ml.api import review
from ml.api.artifacts import ModelImportView, ModelPackageView
from ml.api.automation_bias import AutomationBiasView
from ml.api.exports import DatasetExportViewSet
from ml.api.policy import ActiveLearningPolicyView
from ml.api.retraining import RetrainingPolicyViewSet, RetrainingRunViewSet
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
router.register("dataset-exports", DatasetExportViewSet, basename="dataset-export")
router.register("active-rounds", ActiveLearningRoundViewSet, basename="active-round")
router.register("retraining-policies", RetrainingPolicyViewSet, basename="retraining-policy")
router.register("retraining-runs", RetrainingRunViewSet, basename="retraining-run")
urlpatterns = [
    path("recipes/", RecipeListView.as_view(), name="recipes"),
    path("automation-bias/", AutomationBiasView.as_view(), name="automation-bias"),
    # Before the router: "import" would otherwise be read as a version id.
    path("model-versions/import/", ModelImportView.as_view(), name="model-version-import"),
    path(
        "model-versions/<int:pk>/package/",
        ModelPackageView.as_view(),
        name="model-version-package",
    ),
    *router.urls,
    path(
        "projects/<int:pk>/active-learning-policy/",
        ActiveLearningPolicyView.as_view(),
        name="active-learning-policy",
    ),
    path(
        "exams/<int:exam_id>/proposals/",
        review.ExamProposalsView.as_view(),
        name="exam-proposals",
    ),
    path(
        "exams/<int:exam_id>/proposals/accept-all/",
        review.ExamAcceptAllView.as_view(),
        name="exam-proposals-accept-all",
    ),
    path(
        "exams/<int:exam_id>/preannotate/",
        review.ExamPreannotateView.as_view(),
        name="exam-preannotate",
    ),
    path("proposals/<int:pk>/accept/", review.ProposalAcceptView.as_view(), name="proposal-accept"),
    path("proposals/<int:pk>/edit/", review.ProposalEditView.as_view(), name="proposal-edit"),
    path("proposals/<int:pk>/reject/", review.ProposalRejectView.as_view(), name="proposal-reject"),
    path("preannotations/", review.PreannotationView.as_view(), name="preannotations"),
    path(
        "preannotations/<uuid:job_id>/resume/",
        review.PreannotationResumeView.as_view(),
        name="preannotation-resume",
    ),
]
