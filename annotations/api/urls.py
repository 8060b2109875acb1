from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from annotations.api import views, worklist

router = SimpleRouter()
router.register("findings", views.FindingViewSet, basename="finding")

urlpatterns: list[URLPattern | URLResolver] = [
    *router.urls,
    path("marks/<int:pk>/mask.png", views.MarkMaskView.as_view(), name="mark-mask"),
    path("exam-labels/", views.ExamLabelView.as_view(), name="exam-labels"),
    path("worklist/", worklist.WorklistView.as_view(), name="worklist"),
    path("worklist/next/", worklist.WorklistNextView.as_view(), name="worklist-next"),
    path("worklist/<int:exam_id>/done/", worklist.WorklistDoneView.as_view(), name="worklist-done"),
]
