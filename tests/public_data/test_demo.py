"""The Demo project: synthetic four-view exams, a prior, an ultrasound and a slide, with truth."""

from __future__ import annotations

import time

import numpy as np
import pytest
from django.core.management import call_command

from annotations.models import ExamLabel, Finding, Mark
from datasets.demo import DemoExam, Lesion, lesion_centre, load_demo, mammogram
from senolab.imaging import pixelcache, storage
from senolab.imaging.ingest.slides import open_slide
from senolab.imaging.models import Exam, Image, Slide
from senolab.projects.models import Membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(make_user):
    user = make_user("admin")
    user.is_superuser = True
    user.save()
    return user


def test_demo_has_four_view_exams_with_a_prior_an_ultrasound_and_a_slide(admin):
    # when the demo is loaded
    started = time.monotonic()
    call_command("load_demo")
    elapsed = time.monotonic() - started
    # then the admin owns a Demo project with four four-view mammography exams
    project = Membership.objects.get(user=admin, role="owner").project
    assert project.name == "Demo"
    mg = Image.objects.filter(project=project, modality="MG")
    assert mg.count() == 16
    assert {(i.laterality, i.view) for i in mg} == {(s, v) for s in "RL" for v in ("CC", "MLO")}
    assert {(i.bits_stored, i.photometric_interpretation) for i in mg} == {(12, "MONOCHROME2")}
    # and one patient has a prior exam
    mg_exams = Exam.objects.filter(project=project, images__modality="MG").distinct()
    per_patient = sorted(mg_exams.values_list("patient_id", flat=True))
    assert len(per_patient) == 4 and len(set(per_patient)) == 3
    # and masses and calcification clusters have reference findings marked on both views
    types = set(
        Finding.objects.filter(exam__in=mg_exams, source="reference").values_list(
            "finding_type", flat=True
        )
    )
    assert types == {"mass", "calcification"}
    mass = Finding.objects.filter(exam__in=mg_exams, finding_type="mass").first()
    assert {m.image.view for m in mass.marks.all()} == {"CC", "MLO"}
    # and the ultrasound case has a mask, the slide a polygon that tiffslide can read
    us_mark = Mark.objects.get(image__project=project, image__modality="US")
    assert us_mark.kind == "mask" and storage.exists(us_mark.mask_key)
    slide = Slide.objects.get(project=project)
    assert len(slide.levels) >= 3 and slide.mpp_x == pytest.approx(0.5)
    assert open_slide(slide).read_region((0, 0), len(slide.levels) - 1, (64, 64)).size == (64, 64)
    assert Mark.objects.get(slide=slide).kind == "polygon"
    assert ExamLabel.objects.filter(exam__project=project, source="reference").count() >= 9
    assert elapsed < 20


def test_demo_twice_adds_nothing(admin):
    # given the demo loaded once
    load_demo()
    counts = (
        Image.objects.count(),
        Finding.objects.count(),
        ExamLabel.objects.count(),
        Slide.objects.count(),
        Exam.objects.count(),
    )
    # when it is loaded again
    load_demo()
    # then nothing is duplicated
    assert counts == (
        Image.objects.count(),
        Finding.objects.count(),
        ExamLabel.objects.count(),
        Slide.objects.count(),
        Exam.objects.count(),
    )


def test_demo_stores_no_synthetic_identifier(admin):
    project = load_demo()
    image = Image.objects.filter(project=project, modality="MG").first()
    stored = storage.read(image.storage_key)
    assert b"Demo^Alice" not in stored and b"DEMO-001" not in stored
    assert b"Demo Breast Centre" not in stored


def test_synthetic_mass_is_brighter_than_the_tissue_around_it():
    # given an exam with one mass in the left breast
    lesion = Lesion("L", "mass", 0.5, 0.0, 24, "malignant", "5")
    exam = DemoExam("X", "X^Y", 50, __import__("datetime").date(2024, 1, 1), "B", [lesion], 3)
    # when the L-CC view is synthesised
    pixels = mammogram(exam, "L", "CC")
    # then the mass centre is brighter than tissue beside it, and air is dark
    cx, cy = (int(v) for v in lesion_centre(lesion, "CC"))
    assert pixels.dtype == np.uint16 and pixels.max() <= 4095
    assert (
        pixels[cy - 3 : cy + 3, cx - 3 : cx + 3].mean()
        > pixels[cy - 3 : cy + 3, cx + 60 : cx + 66].mean() + 300
    )
    assert pixels[5, -5] < 300
    assert pixelcache.build_levels(pixels)[0].shape[1:3] == pixels.shape
