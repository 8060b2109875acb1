from django.urls import URLPattern, URLResolver, path

from senolab.imaging.api.uploads import UploadView

urlpatterns: list[URLPattern | URLResolver] = [
    path("projects/<int:project_pk>/uploads/", UploadView.as_view(), name="project-uploads"),
]
