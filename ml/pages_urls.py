"""Browser pages of the ML app (training runs, model versions)."""

from django.urls import path

from ml import views

urlpatterns = [
    path("ml/runs/", views.run_list, name="ml-runs"),
    path("ml/runs/<int:pk>/", views.run_detail, name="ml-run"),
    path("ml/projects/<int:project_id>/rounds/", views.rounds, name="ml-rounds"),
    path("ml/versions/<int:pk>/", views.version_detail, name="ml-version"),
]
