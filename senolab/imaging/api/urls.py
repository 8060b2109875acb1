from django.urls import URLPattern, URLResolver, path, re_path
from rest_framework.routers import SimpleRouter

from senolab.imaging.api import quarantine, signed_tiles, views

# Binary resources are addressed like files (render.png, dzi.xml, tiles/0/0_0.jpeg, dicom),
# without the trailing slash of the JSON resources: viewers build these URLs themselves.
FILE_LIKE_ACTIONS = {"render_png", "pixels", "dicom", "dzi", "tile"}


class ImagingRouter(SimpleRouter):
    """A SimpleRouter whose file-like detail actions have no trailing slash."""

    def _get_dynamic_route(self, route, action):  # type: ignore[no-untyped-def]
        built = super()._get_dynamic_route(route, action)
        if action.__name__ in FILE_LIKE_ACTIONS:
            built = built._replace(url=built.url.replace("{trailing_slash}", ""))
        return built


router = ImagingRouter()
router.register("patients", views.PatientViewSet, basename="patient")
router.register("exams", views.ExamViewSet, basename="exam")
router.register("series", views.SeriesViewSet, basename="series")
router.register("images", views.ImageViewSet, basename="image")
router.register("slides", views.SlideViewSet, basename="slide")

urlpatterns: list[URLPattern | URLResolver] = [
    path(
        "projects/<int:project_pk>/pseudonyms/",
        views.PseudonymListView.as_view(),
        name="project-pseudonyms",
    ),
    path(
        "images/<int:pk>/mark-clean/", quarantine.MarkCleanView.as_view(), name="image-mark-clean"
    ),
    path("images/<int:pk>/mask/", quarantine.MaskView.as_view(), name="image-mask"),
    path(
        "images/<int:pk>/unmasked-dicom",
        quarantine.UnmaskedDicomView.as_view(),
        name="image-unmasked-dicom",
    ),
    # Matched by senolab.imaging.api.signed_tiles.SignedTileMiddleware before it gets here.
    re_path(
        signed_tiles.SIGNED_TILE_PATH.pattern.removeprefix("^/api/"),
        signed_tiles.signed_tile,
        name="slide-signed-tile",
    ),
    *router.urls,
]
