"""Burned-in text: ultrasound and flagged images are quarantined at ingest, kept out of training
snapshots (Image.objects.usable_for_research), and released by a reviewer or by masking the
regions configured per manufacturer and model; owners alone read the unmasked original."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from PIL import Image as PILImage
from PIL import ImageDraw

from ml.services.snapshots import build_manifest
from senolab.imaging import pixelcache, storage
from senolab.imaging.ingest.service import ingest_dicom_file, ingest_paths
from senolab.imaging.models import Image, PixelStatus
from tests.factories.dicom import make_dicom, write_dicom
from tests.imaging.ingest_helpers import media

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]
__all__ = ["media"]

ROWS, COLUMNS, BAND = 64, 128, 16
US_MASK = [
    {"manufacturer": "FactoryVendor", "model": "Model 3000", "regions": [[0, 0, COLUMNS, BAND]]}
]


def ultrasound_with_text(path, **overrides):
    """A synthetic ultrasound frame: speckle below, the patient's name in white in the top band."""
    frame = PILImage.new("L", (COLUMNS, ROWS), 0)
    draw = ImageDraw.Draw(frame)
    draw.text((2, 2), "DOE^JANE 1961", fill=255)
    pixels = np.asarray(frame).copy()
    rng = np.random.default_rng(3)
    pixels[BAND:] = rng.integers(20, 120, size=(ROWS - BAND, COLUMNS), dtype=np.uint8)
    ds = make_dicom(modality="US", rows=ROWS, columns=COLUMNS, **overrides)
    ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path, pixels


@pytest.fixture
def quarantined(tmp_path, project):
    path, pixels = ultrasound_with_text(tmp_path / "us.dcm", BurnedInAnnotation=None)
    return ingest_dicom_file(project, path), pixels


def test_ultrasound_without_a_statement_is_quarantined_and_counted(tmp_path, project):
    # given an ultrasound frame with a name in its top band, and no BurnedInAnnotation
    path, pixels = ultrasound_with_text(tmp_path / "us.dcm", BurnedInAnnotation=None)
    assert (pixels[:BAND] > 128).sum() > 50  # the text is really there
    # and a mammogram flagged YES, and one stating NO
    flagged = write_dicom(tmp_path / "mg-yes.dcm", burned_in=True, seed=1)
    clean = write_dicom(tmp_path / "mg-no.dcm", burned_in=False, seed=2)
    # when they are ingested
    report = ingest_paths(project, [path, flagged, clean])
    # then the ultrasound and the flagged one are quarantined, with their reason
    images = Image.objects.filter(project=project)
    assert dict(images.values_list("modality", "pixel_status").filter(modality="US")) == {
        "US": PixelStatus.QUARANTINED
    }
    reasons = set(
        images.filter(pixel_status=PixelStatus.QUARANTINED).values_list(
            "pixel_status_reason", flat=True
        )
    )
    assert reasons == {"BurnedInAnnotation is YES", "ultrasound without BurnedInAnnotation NO"}
    assert images.filter(pixel_status=PixelStatus.CLEAN).count() == 1
    # and the ingest report counts them
    assert report.as_result()["quarantined"] == 2
    # and only the clean one is usable for research
    assert list(Image.objects.usable_for_research().filter(project=project)) == list(
        images.filter(pixel_status=PixelStatus.CLEAN)
    )


def test_an_ultrasound_stating_no_burned_in_text_and_showing_none_is_not_quarantined(
    tmp_path, project
):
    ds = make_dicom(modality="US", rows=ROWS, columns=COLUMNS, BurnedInAnnotation="NO")
    ds.PixelData = np.random.default_rng(4).integers(20, 120, (ROWS, COLUMNS), np.uint8).tobytes()
    ds.save_as(tmp_path / "us.dcm", enforce_file_format=True)
    assert ingest_dicom_file(project, tmp_path / "us.dcm").pixel_status == PixelStatus.CLEAN


def mammogram_with_text(path, text: str | None, **overrides):
    """A 12-bit mammogram-like frame (a bright breast on the left, dark air) with `text` written
    in white into its dark bottom band, as film digitisers and some sites burn in labels."""
    rows, columns = 256, 192
    yy, xx = np.mgrid[:rows, :columns]
    breast = ((xx / (columns * 0.6)) ** 2 + ((yy - rows / 2) / (rows * 0.4)) ** 2) <= 1
    pixels = np.where(breast, 2600, 80).astype(np.float32)
    pixels += np.random.default_rng(6).normal(0, 30, (rows, columns))
    if text:
        label = PILImage.new("L", (columns, 24), 0)
        ImageDraw.Draw(label).text((4, 6), text, fill=255)
        pixels[-24:][np.asarray(label) > 128] = 4095
    ds = make_dicom(modality="MG", rows=rows, columns=columns, bits=12, **overrides)
    ds.PixelData = np.clip(pixels, 0, 4095).astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def test_text_detected_in_the_pixels_quarantines_whatever_the_header_says(tmp_path, project):
    # Given mammograms without a burned-in flag or stating NO, one pair showing a name in its
    # bottom band, and a plain one
    named = mammogram_with_text(tmp_path / "a.dcm", "DOE JANE 1961", BurnedInAnnotation=None)
    denied = mammogram_with_text(
        tmp_path / "b.dcm", "ST MARY 2024", BurnedInAnnotation="NO", seed=2
    )
    plain = mammogram_with_text(tmp_path / "c.dcm", None, BurnedInAnnotation=None, seed=3)
    # When they are ingested
    images = [ingest_dicom_file(project, p) for p in (named, denied, plain)]
    # Then both with text are quarantined for what their pixels show; the plain one is clean
    assert [i.pixel_status for i in images] == [
        PixelStatus.QUARANTINED,
        PixelStatus.QUARANTINED,
        PixelStatus.CLEAN,
    ]
    assert images[0].pixel_status_reason == "text detected in a border band of the pixels"


def test_text_detection_on_arrays():
    from senolab.imaging.deid.burned_in import detect_text

    dark = np.random.default_rng(1).normal(40, 8, (480, 640)).clip(0, 255).astype(np.uint8)
    named = PILImage.fromarray(dark.copy())
    ImageDraw.Draw(named).text((10, 8), "DOE^JANE 1961-04-17 ST MARY", fill=255)
    bright = np.full((480, 640), 200, np.uint8)
    blobs = dark.copy()
    blobs[10:40, 20:60] = blobs[15:50, 300:420] = 255  # two large bright shapes, not a line
    assert detect_text(np.asarray(named))
    assert detect_text(np.stack([np.asarray(named)] * 3, axis=-1))  # colour
    assert detect_text(np.stack([np.asarray(named), dark]))  # the first of two frames
    assert not detect_text(dark)
    assert not detect_text(bright)
    assert not detect_text(blobs)


@pytest.mark.realdata
def test_text_detection_finds_the_labels_burned_into_real_ultrasound(shared_data):
    # BUSI images that carry a burned-in label (seen by eye): "RIGHT BREAST", "RT AXILLA"
    folder = shared_data / "busi" / "Dataset_BUSI_with_GT" / "benign"
    from senolab.imaging.deid.burned_in import detect_text

    for name in ("benign (138).png", "benign (205).png", "benign (207).png"):
        pixels = np.asarray(PILImage.open(folder / name).convert("L"))
        assert detect_text(pixels), name


def test_training_snapshots_leave_out_quarantined_images(tmp_path, project, quarantined):
    # given a quarantined ultrasound exam and a clean mammogram exam
    image, _ = quarantined
    mammogram = ingest_dicom_file(project, write_dicom(tmp_path / "mg.dcm", seed=5))
    # when a snapshot manifest is built
    entries, _ = build_manifest(project, "any")
    # then no entry holds the quarantined image, and the mammogram is there
    ids = {int(im["key"]) for e in entries for im in e["images"]}
    assert image.pk not in ids and mammogram.pk in ids


def test_a_reviewer_marks_a_quarantined_image_clean_an_annotator_may_not(
    quarantined, project, make_user, client_for
):
    image, _ = quarantined
    annotator, reviewer = make_user(), make_user()
    project.memberships.create(user=annotator, role="annotator")
    project.memberships.create(user=reviewer, role="reviewer")
    url = f"/api/images/{image.pk}/mark-clean/"
    # an annotator is refused
    assert client_for(annotator).post(url).status_code == 403
    # a reviewer releases it
    response = client_for(reviewer).post(url)
    assert response.status_code == 200, response.content
    assert response.json()["pixel_status"] == "reviewed_clean"
    image.refresh_from_db()
    assert image.pixel_reviewed_by == reviewer and image.pixel_reviewed_at is not None
    assert Image.objects.usable_for_research().filter(pk=image.pk).exists()
    # and a second release is a conflict that says why
    again = client_for(reviewer).post(url)
    assert again.status_code == 409 and "not quarantined" in again.json()["error"]["message"]


def test_masking_configured_regions_cleans_the_stored_file_and_the_pixel_cache(
    quarantined, project, owner, make_user, client_for, settings, django_capture_on_commit_callbacks
):
    # given a quarantined ultrasound whose model has its top band configured
    image, pixels = quarantined
    settings.SENOLAB_BURNED_IN_MASKS = US_MASK
    reviewer = make_user()
    project.memberships.create(user=reviewer, role="reviewer")
    original_key = image.storage_key
    old_cache = pixelcache.cache_keys(image.pixel_cache)
    # when a reviewer masks it
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(reviewer).post(f"/api/images/{image.pk}/mask/")
    # then it is cleaned and usable
    assert response.status_code == 200, response.content
    image.refresh_from_db()
    assert image.pixel_status == PixelStatus.CLEANED
    assert Image.objects.usable_for_research().filter(pk=image.pk).exists()
    # and the stored de-identified DICOM has no text left in the band, the rest untouched
    stored = pydicom.dcmread(io.BytesIO(storage.read(image.storage_key)))
    assert (stored.pixel_array[:BAND] == 0).all()
    np.testing.assert_array_equal(stored.pixel_array[BAND:], pixels[BAND:])
    assert stored.BurnedInAnnotation == "NO"
    assert "113101" in [c.CodeValue for c in stored.DeidentificationMethodCodeSequence]
    # and so has every level of the pixel cache, whose unmasked files are gone
    assert (pixelcache.read_pixels(image)[:BAND] == 0).all()
    assert not any(storage.exists(k) for k in old_cache)
    # and the unmasked original is kept, served to owners only
    assert image.unmasked_storage_key == original_key
    url = f"/api/images/{image.pk}/unmasked-dicom"
    assert client_for(reviewer).get(url).status_code == 403
    served = client_for(owner).get(url)
    assert served.status_code == 200
    unmasked = pydicom.dcmread(io.BytesIO(b"".join(served.streaming_content)))
    np.testing.assert_array_equal(unmasked.pixel_array, pixels)
    # and the served de-identified DICOM is the masked one
    masked = client_for(reviewer).get(f"/api/images/{image.pk}/dicom")
    masked_ds = pydicom.dcmread(io.BytesIO(b"".join(masked.streaming_content)))
    assert (masked_ds.pixel_array[:BAND] == 0).all()


def test_masking_without_configured_regions_says_what_to_configure(
    quarantined, owner, client_for, settings
):
    image, _ = quarantined
    settings.SENOLAB_BURNED_IN_MASKS = []
    response = client_for(owner).post(f"/api/images/{image.pk}/mask/")
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "SENOLAB_BURNED_IN_MASKS" in message and "Model 3000" in message
    image.refresh_from_db()
    assert image.pixel_status == PixelStatus.QUARANTINED and not image.unmasked_storage_key


def test_an_image_never_masked_has_no_unmasked_original(quarantined, owner, client_for):
    image, _ = quarantined
    assert client_for(owner).get(f"/api/images/{image.pk}/unmasked-dicom").status_code == 404


def test_masking_covers_every_frame_and_colour_and_clips_to_the_frame():
    # given a 3-frame colour cine and a region reaching past the right edge
    from senolab.imaging.deid.burned_in import Region, mask_pixels

    cine = np.full((3, 10, 12, 3), 200, dtype=np.uint8)
    cine[:, 9, 0] = 7  # the minimum, outside the region
    # when it is masked
    masked = mask_pixels(cine, 3, [Region(8, 0, 50, 2)])
    # then the region is the minimum in every frame and sample, the rest untouched
    assert (masked[:, 0:2, 8:] == 7).all()
    assert (masked[:, 2:9] == 200).all() and (cine[:, 0:2, 8:] == 200).all()


def test_the_worklist_counts_an_exams_quarantined_images(quarantined, project, owner, client_for):
    image, _ = quarantined
    rows = client_for(owner).get("/api/worklist/", {"project": project.pk}).json()["results"]
    assert {r["exam"]: r["quarantined_images"] for r in rows} == {image.exam_id: 1}


@pytest.mark.parametrize(
    "options",
    [
        {"color": True},
        {"frames": 3},
        {"color": True, "transfer_syntax": "1.2.840.10008.1.2.5"},  # RLE lossless
    ],
    ids=["colour", "cine", "colour-rle"],
)
def test_masking_writes_a_valid_file_for_colour_cine_and_compressed_ultrasound(
    tmp_path, project, owner, client_for, settings, options
):
    # given a quarantined colour, multi-frame or compressed ultrasound of a configured model
    settings.SENOLAB_BURNED_IN_MASKS = [
        {"manufacturer": "factoryvendor", "model": "*", "regions": [[0, 0, 48, 4]]}
    ]
    path = write_dicom(tmp_path / "us.dcm", modality="US", rows=32, columns=48, **options)
    pydicom_ds = pydicom.dcmread(path)
    pydicom_ds.BurnedInAnnotation = "YES"
    pydicom_ds.save_as(path)
    image = ingest_dicom_file(project, path)
    original = pydicom.dcmread(path).pixel_array
    # when it is masked
    assert client_for(owner).post(f"/api/images/{image.pk}/mask/").status_code == 200
    # then the stored file decodes to the original pixels with the band at the minimum
    image.refresh_from_db()
    stored = pydicom.dcmread(io.BytesIO(storage.read(image.storage_key))).pixel_array
    assert stored.shape == original.shape
    band = stored[..., :4, :, :] if options.get("color") else stored[..., :4, :]
    assert (band == original.min()).all()
    rest = (slice(None),) * (stored.ndim - (3 if options.get("color") else 2)) + (slice(4, None),)
    np.testing.assert_array_equal(stored[rest], original[rest])
    # and the pixel cache agrees with it
    np.testing.assert_array_equal(pixelcache.read_pixels(image)[:4].max(), original.min())
