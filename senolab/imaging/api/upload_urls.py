from django.urls import URLPattern, URLResolver, path

from senolab.imaging.api.clinical_import import ClinicalImportView
from senolab.imaging.api.uploads import UploadView

urlpatterns: list[URLPattern | URLResolver] = [
    path("projects/<int:project_pk>/uploads/", UploadView.as_view(), name="project-uploads"),
    path(
        "projects/<int:project_pk>/clinical-records/import/",
        ClinicalImportView.as_view(),
        name="project-clinical-import",
    ),
]
