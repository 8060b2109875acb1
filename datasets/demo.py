"""The demo project: synthetic breast imaging cases with ground truth, generated on the fly.

Nothing here is real data. Three patients with four-view mammograms (R-CC, L-CC, R-MLO, L-MLO;
12-bit MONOCHROME2 DICOM) showing masses and calcification clusters, one of them with a prior
exam a year earlier; for the second patient also an ultrasound of her right-breast mass with
its mask and a small pyramidal TIFF slide of her biopsy with the tumour region outlined. Every
image is built from a seeded generator, so a second run produces the same bytes and ingest's
de-duplication keeps the load idempotent.
"""

from __future__ import annotations

import datetime as dt
import io
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from scipy import ndimage

from annotations.models import Finding, Source
from datasets.importers.base import add_reference_finding, mask_mark, set_reference_label
from senolab.imaging import storage
from senolab.imaging.models import ClinicalRecord, Exam, Image
from senolab.projects.models import Membership, Project, Role
from senolab.projects.schema import BIRADS

PROJECT_NAME = "Demo"
ROWS, COLS = 832, 640
SPACING_MM = 0.2
MG_SOP_CLASS: Any = "1.2.840.10008.5.1.4.1.1.1.2"  # Digital Mammography X-Ray - For Presentation
VIEW_CODES = {"CC": ("R-10242", "cranio-caudal"), "MLO": ("R-10226", "medio-lateral oblique")}
UID_ROOT = "1.2.826.0.1.3680043.10.1071."  # demo-only UIDs, stable across runs


@dataclass
class Lesion:
    """One synthetic lesion: where it is (depth from the chest wall, height), what it is."""

    side: str
    kind: str  # "mass" or "calcification"
    depth: float  # 0 at the chest wall .. 1 at the nipple
    height: float  # -1 .. 1 across the breast
    radius: float  # pixels
    pathology: str
    birads: str


@dataclass
class DemoExam:
    patient: str
    name: str
    age: int
    study_date: dt.date
    density: str
    lesions: list[Lesion] = field(default_factory=list)
    seed: int = 0


def demo_exams() -> list[DemoExam]:
    return [
        DemoExam(
            "DEMO-001",
            "Demo^Alice",
            57,
            dt.date(2024, 3, 12),
            "B",
            [
                Lesion("L", "mass", 0.45, -0.25, 26, "malignant", "5"),
                Lesion("R", "calcification", 0.55, 0.2, 22, "benign", "3"),
            ],
            seed=11,
        ),
        # Alice's prior: the mass was smaller a year earlier.
        DemoExam(
            "DEMO-001",
            "Demo^Alice",
            56,
            dt.date(2023, 3, 9),
            "B",
            [Lesion("L", "mass", 0.45, -0.25, 14, "malignant", "4B")],
            seed=12,
        ),
        DemoExam(
            "DEMO-002",
            "Demo^Beatriz",
            49,
            dt.date(2024, 5, 2),
            "C",
            [
                Lesion("R", "mass", 0.35, 0.3, 20, "benign", "3"),
                Lesion("L", "calcification", 0.6, -0.1, 18, "malignant", "4C"),
            ],
            seed=21,
        ),
        DemoExam("DEMO-003", "Demo^Chen", 62, dt.date(2024, 6, 20), "A", [], seed=31),
    ]


# --- synthetic pixels --------------------------------------------------------------------------


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    small = rng.standard_normal((max(shape[0] // 8, 2), max(shape[1] // 8, 2)))
    field_ = ndimage.gaussian_filter(small, scale / 8)
    field_ = ndimage.zoom(field_, (shape[0] / small.shape[0], shape[1] / small.shape[1]), order=1)
    field_ = field_[: shape[0], : shape[1]]
    return (field_ - field_.mean()) / (field_.std() + 1e-6)


def lesion_centre(lesion: Lesion, view: str) -> tuple[float, float]:
    """(x, y) of a lesion in the image of its side and view (chest wall at the image edge)."""
    depth_px = 30 + lesion.depth * (COLS * 0.6)
    x = COLS - depth_px if lesion.side == "R" else depth_px
    y_mid = ROWS * (0.5 if view == "CC" else 0.6 - 0.22 * (1 - depth_px / (COLS * 0.74)))
    y = y_mid + lesion.height * ROWS * 0.25
    return float(x), float(y)


def mammogram(exam: DemoExam, side: str, view: str) -> np.ndarray:
    """A 12-bit breast-like projection: skin line, fat, glandular texture, lesions."""
    rng = np.random.default_rng(exam.seed * 10 + (side == "L") * 2 + (view == "MLO"))
    yy, xx = np.mgrid[0:ROWS, 0:COLS].astype(np.float32)
    depth = (COLS - 1 - xx) if side == "R" else xx  # distance from the chest wall
    reach = COLS * 0.74
    if view == "CC":
        r = np.sqrt((depth / reach) ** 2 + ((yy - ROWS * 0.5) / (ROWS * 0.40)) ** 2)
    else:  # MLO: the breast is tilted and reaches the top (axilla) along the chest wall
        centre_y = ROWS * 0.60 - ROWS * 0.22 * (1 - np.clip(depth / reach, 0, 1))
        r = np.sqrt((depth / reach) ** 2 + ((yy - centre_y) / (ROWS * 0.46)) ** 2)
    breast = np.clip((1.0 - r) * 25, 0, 1)  # soft skin line
    density_gain = {"A": 0.25, "B": 0.45, "C": 0.7, "D": 0.9}[exam.density]
    gland = np.clip(
        _smooth_noise(rng, (ROWS, COLS), 40) * 0.45
        + _smooth_noise(rng, (ROWS, COLS), 14) * 0.35
        + 0.3,
        0,
        None,
    )
    gland *= np.exp(-((depth / reach) ** 2) * 2.0) * density_gain
    fine = _smooth_noise(rng, (ROWS, COLS), 4)
    tissue = 1300 + 1400 * gland + 60 * fine + 250 * (1 - r).clip(0, 1)
    if view == "MLO":  # pectoral muscle: a bright triangle in the upper chest-wall corner
        muscle = (depth / (COLS * 0.30) + yy / (ROWS * 0.50)) < 1
        tissue = np.where(muscle, tissue + 700, tissue)
    image = 80 + breast * tissue
    for lesion in exam.lesions:
        if lesion.side != side:
            continue
        cx, cy = lesion_centre(lesion, view)
        if lesion.kind == "mass":
            d = np.sqrt((xx - cx) ** 2 + ((yy - cy) * 1.15) ** 2) / lesion.radius
            edge = 1 + 0.15 * np.sin(8 * np.arctan2(yy - cy, xx - cx))
            image += 700 * np.clip((edge - d) * 3, 0, 1)
        else:
            for _ in range(12):
                px, py = rng.normal(0, lesion.radius / 2.2, 2)
                d = np.sqrt((xx - cx - px) ** 2 + (yy - cy - py) ** 2)
                image += 1600 * np.clip(1.8 - d, 0, 1)
    image += rng.normal(0, 18, image.shape)
    return np.clip(image, 0, 4095).astype(np.uint16)


def ultrasound(
    rng: np.random.Generator, rows: int = 360, cols: int = 480
) -> tuple[np.ndarray, np.ndarray]:
    """A B-mode-like image with a hypoechoic oval lesion, and the lesion's mask."""
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    speckle = rng.rayleigh(1.0, (rows, cols))
    layers = 0.6 + 0.4 * np.sin(yy / 23.0 + _smooth_noise(rng, (rows, cols), 30))
    image = 70 * speckle * layers * np.clip(1.2 - yy / rows * 0.6, 0.4, 1)
    inside = (((xx - 250) / 70) ** 2 + ((yy - 180) / 42) ** 2) <= 1
    image = np.where(inside, image * 0.25, image)
    image[:, :30] = image[:, -30:] = 0  # the sector's black margins
    return np.clip(image, 0, 255).astype(np.uint8), inside.astype(np.uint8) * 255


def slide_pixels(
    rng: np.random.Generator, rows: int = 1536, cols: int = 2048
) -> tuple[np.ndarray, list[list[float]]]:
    """An H&E-like RGB field with a dense tumour nest, and the nest's outline (level 0 px)."""
    from PIL import Image as PILImage
    from PIL import ImageDraw

    base = np.empty((rows, cols, 3), np.uint8)
    base[:] = (236, 196, 214)
    canvas = PILImage.fromarray(base)
    draw = ImageDraw.Draw(canvas)
    angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    radii = 330 + rng.normal(0, 35, angles.size)
    outline = [
        [float(1000 + r * np.cos(a)), float(760 + 0.8 * r * np.sin(a))]
        for r, a in zip(radii, angles, strict=True)
    ]
    draw.polygon([tuple(p) for p in outline], fill=(214, 150, 190))
    for _ in range(2500):
        x, y = rng.uniform(0, cols), rng.uniform(0, rows)
        s = rng.uniform(3, 7)
        draw.ellipse([x - s, y - s * 0.8, x + s, y + s * 0.8], fill=(92, 60, 150))
    nest = np.asarray(canvas).copy()
    for _ in range(1500):  # crowded, larger nuclei inside the tumour
        p = outline[rng.integers(len(outline))]
        t = rng.uniform(0, 0.95)
        x, y = 1000 + (p[0] - 1000) * t, 760 + (p[1] - 760) * t
        s = rng.uniform(6, 10)
        draw.ellipse([x - s, y - s, x + s, y + s], fill=(70, 40, 130))
    nest = np.asarray(canvas)
    noise = rng.normal(0, 6, nest.shape)
    return np.clip(nest + noise, 0, 255).astype(np.uint8), outline


# --- DICOM --------------------------------------------------------------------------------------


def _uid(*parts: Any) -> Any:
    from pydicom.uid import generate_uid

    return generate_uid(prefix=UID_ROOT, entropy_srcs=[str(p) for p in parts])


def mammogram_dataset(exam: DemoExam, side: str, view: str) -> Any:
    """A Digital Mammography For-Presentation dataset with the exam's synthetic identifiers."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    pixels = mammogram(exam, side, view)
    study = exam.study_date.strftime("%Y%m%d")
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = MG_SOP_CLASS
    ds.file_meta.MediaStorageSOPInstanceUID = _uid(exam.patient, study, side, view)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = MG_SOP_CLASS, ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = _uid(exam.patient, study)
    ds.SeriesInstanceUID = _uid(exam.patient, study, "series")
    ds.PatientID, ds.PatientName = exam.patient, exam.name
    ds.PatientBirthDate = f"{exam.study_date.year - exam.age}0101"
    ds.PatientAge, ds.PatientSex = f"{exam.age:03d}Y", "F"
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = study
    ds.StudyTime = ds.ContentTime = "093000"
    ds.AccessionNumber = f"ACC{exam.seed:05d}"
    ds.InstitutionName, ds.ReferringPhysicianName = "Demo Breast Centre", "Demo^Referrer"
    ds.Modality, ds.Manufacturer, ds.BodyPartExamined = "MG", "Senolab synthetic", "BREAST"
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.SeriesNumber, ds.InstanceNumber = (
        1,
        ["R-CC", "L-CC", "R-MLO", "L-MLO"].index(f"{side}-{view}") + 1,
    )
    ds.ImageLaterality, ds.Laterality, ds.ViewPosition = side, side, view
    code = pydicom.Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = (
        VIEW_CODES[view][0],
        "SRT",
        VIEW_CODES[view][1],
    )
    ds.ViewCodeSequence = [code]
    ds.PatientOrientation = (
        ["P", "F" if view == "MLO" else "L"]
        if side == "R"
        else ["A", "F" if view == "MLO" else "R"]
    )
    ds.Rows, ds.Columns = pixels.shape
    ds.PixelSpacing = ds.ImagerPixelSpacing = [SPACING_MM, SPACING_MM]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.WindowCenter, ds.WindowWidth = 2000, 3600
    ds.BurnedInAnnotation = "NO"
    ds.PixelData = pixels.tobytes()
    return ds


def _ingest_dicom(project: Project, path: Path, user: Any) -> Image:
    """Through the platform's DICOM ingest (de-identification, pixel cache, rows)."""
    # Our files are byte-identical run after run, so the hash finds what an earlier run stored.
    existing = Image.objects.filter(
        project=project, source_sha256=storage.sha256_of(path.read_bytes())
    ).first()
    if existing:
        return existing
    try:
        from senolab.imaging.ingest.service import ingest_dicom_file
    except ImportError:  # a checkout without the DICOM ingest: store the synthetic file simply
        return _store_synthetic_dicom(project, path)
    return ingest_dicom_file(project, path, user=user)


def _store_synthetic_dicom(project: Project, path: Path) -> Image:
    """Store one of our synthetic mammograms: identifiers replaced, UIDs remapped, cached."""
    import pydicom

    from senolab.imaging import pixelcache
    from senolab.imaging.models import Series
    from senolab.imaging.pseudonyms import pseudonymize_patient, remap_uid

    raw = path.read_bytes()
    ds = pydicom.dcmread(io.BytesIO(raw))
    sop = remap_uid(project, ds.SOPInstanceUID)
    existing = Image.objects.filter(project=project, sop_instance_uid=sop).first()
    if existing:
        return existing
    patient, offset = pseudonymize_patient(project, ds.PatientID, str(ds.PatientName))
    study_date = dt.datetime.strptime(ds.StudyDate, "%Y%m%d").date() + dt.timedelta(offset)
    for keyword in (
        "PatientBirthDate",
        "AccessionNumber",
        "InstitutionName",
        "ReferringPhysicianName",
        "PatientAge",
    ):
        delattr(ds, keyword)
    ds.PatientID = ds.PatientName = patient.pseudonym
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = study_date.strftime("%Y%m%d")
    ds.PatientIdentityRemoved = "YES"
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        setattr(ds, keyword, remap_uid(project, getattr(ds, keyword)))
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    pixels = ds.pixel_array
    with storage.files_with_rows() as batch:
        exam, _ = Exam.objects.get_or_create(
            project=project,
            study_uid=ds.StudyInstanceUID,
            defaults={
                "patient": patient,
                "study_date": study_date,
                "modalities": ["MG"],
                "source": "demo",
                "description": "Synthetic screening mammography",
            },
        )
        series, _ = Series.objects.get_or_create(
            project=project,
            exam=exam,
            series_uid=ds.SeriesInstanceUID,
            defaults={"modality": "MG", "number": 1, "body_part": "BREAST"},
        )
        key = batch.save(storage.new_key(project.pk, "images", "dcm"), buf.getvalue())
        cache_key, layout = pixelcache.write_pixel_cache(project.pk, pixels, batch)
        return Image.objects.create(
            project=project,
            exam=exam,
            series=series,
            sop_instance_uid=ds.SOPInstanceUID,
            instance_number=ds.InstanceNumber,
            modality="MG",
            laterality=ds.ImageLaterality,
            view=ds.ViewPosition,
            rows=ds.Rows,
            columns=ds.Columns,
            bits_allocated=16,
            bits_stored=12,
            pixel_spacing=[SPACING_MM, SPACING_MM],
            transfer_syntax_uid=str(ds.file_meta.TransferSyntaxUID),
            window_center=float(ds.WindowCenter),
            window_width=float(ds.WindowWidth),
            source_format="dicom",
            storage_key=key,
            sha256=storage.sha256_of(buf.getvalue()),
            source_sha256=storage.sha256_of(raw),
            size_bytes=len(buf.getvalue()),
            pixel_cache_key=cache_key,
            pixel_cache=layout,
        )


# --- loading ------------------------------------------------------------------------------------


def _owner() -> Any:
    users = get_user_model().objects
    name = settings.SENOLAB_ADMIN_USER
    return (
        users.filter(username=name).first()
        or users.filter(is_superuser=True).order_by("id").first()
    )


def demo_project(owner: Any = None) -> Project:
    project, _ = Project.objects.get_or_create(
        name=PROJECT_NAME,
        defaults={
            "slug": "demo",
            "description": "Synthetic cases generated by Senolab (no real data).",
        },
    )
    owner = owner or _owner()
    if owner is not None:
        Membership.objects.get_or_create(project=project, user=owner, defaults={"role": Role.OWNER})
    return project


def _has_reference(exam: Exam) -> bool:
    return (
        Finding.objects.filter(exam=exam, source=Source.REFERENCE).exists()
        or exam.labels.filter(source=Source.REFERENCE).exists()
    )


def _load_mammograms(project: Project, workdir: Path, user: Any, log: Any) -> int:
    count = 0
    for number, exam_spec in enumerate(demo_exams()):
        images: dict[tuple[str, str], Image] = {}
        for side in ("R", "L"):
            for view in ("CC", "MLO"):
                path = workdir / f"mg-{number}-{side}-{view}.dcm"
                mammogram_dataset(exam_spec, side, view).save_as(path, enforce_file_format=True)
                images[(side, view)] = _ingest_dicom(project, path, user)
        exam = next(iter(images.values())).exam
        if exam.source != "demo":
            exam.source = "demo"
            exam.save(update_fields=["source"])
        count += 1
        if _has_reference(exam):
            continue
        with transaction.atomic():
            _mammogram_truth(project, exam, exam_spec, images)
        log(f"mammography exam {number + 1}: 4 views, {len(exam_spec.lesions)} lesions")
    return count


def _mammogram_truth(
    project: Project, exam: Exam, spec: DemoExam, images: dict[tuple[str, str], Image]
) -> None:
    for lesion in spec.lesions:
        marks = []
        for view in ("CC", "MLO"):
            cx, cy = lesion_centre(lesion, view)
            marks.append(
                {
                    "image": images[(lesion.side, view)],
                    "kind": "ellipse",
                    "geometry": {
                        "cx": cx,
                        "cy": cy,
                        "rx": lesion.radius * 1.3,
                        "ry": lesion.radius * 1.3,
                    },
                }
            )
        attributes = (
            {"mass_shape": "irregular" if lesion.pathology == "malignant" else "oval"}
            if lesion.kind == "mass"
            else {
                "calcification_morphology": "fine_pleomorphic"
                if lesion.pathology == "malignant"
                else "typically_benign"
            }
        )
        add_reference_finding(
            exam,
            finding_type=lesion.kind,
            pathology=lesion.pathology,
            birads=lesion.birads,
            laterality=lesion.side,
            attributes=attributes,
            marks=marks,
        )
    for side in ("L", "R"):
        mine = [x for x in spec.lesions if x.side == side]
        worst = max(
            (x.pathology for x in mine), key=["benign", "malignant"].index, default="normal"
        )
        birads = max((x.birads for x in mine), key=BIRADS.index, default="1")
        set_reference_label(
            exam, laterality=side, density=spec.density, birads=birads, pathology=worst
        )
    ClinicalRecord.objects.update_or_create(
        exam=exam,
        defaults={
            "project": project,
            "patient": exam.patient,
            "age_at_exam": spec.age,
            "risk_factors": ["family_history"] if spec.patient == "DEMO-001" else [],
        },
    )


def _load_ultrasound(project: Project, user: Any) -> None:
    from senolab.imaging.ingest.raster import store_raster

    pixels, mask = ultrasound(np.random.default_rng(5))
    with storage.files_with_rows() as batch:
        # Beatriz's right-breast mass, seen again on ultrasound (same patient, same truth).
        result = store_raster(
            project,
            pixels,
            patient_key="DEMO-002",
            exam_key="us-1",
            modality="US",
            laterality="R",
            source="demo",
            user=user,
            batch=batch,
            study_date=dt.date(2024, 7, 1),
            description="Synthetic breast ultrasound",
        )
        exam = result.image.exam
        if _has_reference(exam):
            return
        mark = mask_mark(project, mask, batch, image=result.image)
        if mark is None:
            raise ValueError("the synthetic ultrasound lesion mask is empty")
        add_reference_finding(
            exam,
            finding_type="mass",
            pathology="benign",
            birads="3",
            laterality="R",
            attributes={"mass_shape": "oval"},
            marks=[mark],
        )
        set_reference_label(exam, laterality="R", birads="3", pathology="benign")


def _load_slide(project: Project, workdir: Path, user: Any) -> None:
    from senolab.imaging.ingest.slides import store_slide, write_pyramidal_tiff

    pixels, outline = slide_pixels(np.random.default_rng(7))
    path = workdir / "demo-slide.tiff"
    write_pyramidal_tiff(path, pixels, mpp=0.5)
    # The core biopsy of Beatriz's left calcifications.
    result = store_slide(
        project, path, patient_key="DEMO-002", exam_key="biopsy-1", user=user, source="demo"
    )
    exam = result.slide.exam
    if _has_reference(exam):
        return
    with transaction.atomic():
        add_reference_finding(
            exam,
            finding_type="other",
            pathology="malignant",
            note="invasive carcinoma (synthetic)",
            marks=[{"slide": result.slide, "kind": "polygon", "geometry": {"points": outline}}],
        )
        set_reference_label(exam, pathology="malignant")


def load_demo(*, owner: Any = None, log: Any = None) -> Project:
    """Create (or complete) the Demo project; safe to run any number of times."""
    log = log or (lambda message: None)
    project = demo_project(owner)
    with tempfile.TemporaryDirectory(prefix="senolab-demo-") as tmp:
        exams = _load_mammograms(project, Path(tmp), owner, log)
        _load_ultrasound(project, owner)
        log("ultrasound case with a lesion mask")
        _load_slide(project, Path(tmp), owner)
        log("pyramidal slide with a tumour outline")
    log(f"Demo project ready: {exams} mammography exams, 1 ultrasound case, 1 slide")
    return project
