"""One home for the tests' builders: users and projects with roles, images and exams, annotated
synthetic cases, mask PNGs (`records`), and valid DICOM data sets and files (`dicom`)."""

from tests.factories.dicom import (
    IDENTIFIERS,
    dicom_bytes,
    make_dicom,
    supported_transfer_syntaxes,
    write_dicom,
)
from tests.factories.records import (
    PASSWORD,
    case_exam,
    case_pixels,
    case_project,
    create_project,
    create_user,
    mask_png_base64,
    pyramid_tiff,
    raster_image,
)

__all__ = [
    "IDENTIFIERS",
    "PASSWORD",
    "case_exam",
    "case_pixels",
    "case_project",
    "create_project",
    "create_user",
    "dicom_bytes",
    "make_dicom",
    "mask_png_base64",
    "pyramid_tiff",
    "raster_image",
    "supported_transfer_syntaxes",
    "write_dicom",
]
