from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from annotations.api import readers, views, worklist

router = SimpleRouter()
router.register("findings", views.FindingViewSet, basename="finding")

urlpatterns: list[URLPattern | URLResolver] = [
    *router.urls,
    path("marks/<int:pk>/mask.png", views.MarkMaskView.as_view(), name="mark-mask"),
    path("exam-labels/", views.ExamLabelView.as_view(), name="exam-labels"),
    path("worklist/", worklist.WorklistView.as_view(), name="worklist"),
    path("worklist/next/", worklist.WorklistNextView.as_view(), name="worklist-next"),
    path("worklist/<int:exam_id>/done/", worklist.WorklistDoneView.as_view(), name="worklist-done"),
    path("worklist/assign/", readers.AssignReadersView.as_view(), name="worklist-assign"),
    path("worklist/<int:exam_id>/read/", readers.ReadingStateView.as_view(), name="reading-state"),
    path("worklist/<int:exam_id>/first-read/", readers.FirstReadView.as_view(), name="first-read"),
    path("worklist/<int:exam_id>/final-read/", readers.FinalReadView.as_view(), name="final-read"),
    path("agreement/", readers.AgreementView.as_view(), name="agreement"),
    path("adjudication/", readers.AdjudicationQueueView.as_view(), name="adjudication-queue"),
    path(
        "adjudication/<int:exam_id>/",
        readers.AdjudicationExamView.as_view(),
        name="adjudication-exam",
    ),
    path(
        "adjudication/<int:exam_id>/consensus/",
        readers.ConsensusView.as_view(),
        name="adjudication-consensus",
    ),
]
