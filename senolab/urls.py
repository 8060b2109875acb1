from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from senolab.api.health import health
from senolab.api.root import ApiRootView

api_patterns: list[URLPattern | URLResolver] = [
    path("", ApiRootView.as_view(), name="api-root"),
    path("", include("senolab.projects.api.urls")),
    path("", include("senolab.imaging.api.urls")),
    path("", include("senolab.imaging.api.upload_urls")),
    path("", include("senolab.jobs.api.urls")),
    path("", include("senolab.audit.api.urls")),
    path("", include("annotations.api.urls")),
    path("", include("ml.api.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI from the local sidecar copy; its start-up script is served, not inlined (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("api/health/", health, name="health"),
    path("api/", include(api_patterns)),
    path("", include("senolab.workspace.urls")),
    path("", include("ml.pages_urls")),
    path("", include("annotations.pages_urls")),
    path("", include("senolab.audit.pages_urls")),
]
