"""Browser pages of the annotations app (the readers' project pages)."""

from django.urls import path

from annotations import views

urlpatterns = [
    path("projects/<int:project_id>/adjudication/", views.adjudication, name="adjudication"),
    path("projects/<int:project_id>/agreement/", views.agreement, name="agreement"),
]
