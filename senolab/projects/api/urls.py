from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from senolab.projects.api import views

router = SimpleRouter()
router.register("projects", views.ProjectViewSet, basename="project")
router.register(
    r"projects/(?P<project_pk>[0-9]{1,10})/members", views.MembershipViewSet, basename="member"
)

urlpatterns: list[URLPattern | URLResolver] = [
    path("auth/token/", views.TokenView.as_view(), name="auth-token"),
    *router.urls,
]
