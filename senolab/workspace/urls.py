"""Browser pages (the annotation workspace). The Vite-built frontend is served as static files."""

from django.contrib.auth import views as auth_views
from django.urls import path

from senolab.workspace import views

urlpatterns = [
    path("", views.worklist, name="home"),
    path("login/", views.LoginView.as_view(), name="workspace-login"),
    path("logout/", auth_views.LogoutView.as_view(), name="workspace-logout"),
    path("projects/", views.projects, name="workspace-projects"),
    path("exams/<int:exam_id>/", views.exam, name="workspace-exam"),
    path("slides/<int:slide_id>/", views.slide, name="workspace-slide"),
]
