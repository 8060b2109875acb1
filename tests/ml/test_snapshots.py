"""Data set snapshots: content hash, immutability, patient-level split, rebuilt cases."""

from __future__ import annotations

import pytest

from annotations.models import ExamLabel
from ml.models import DatasetSnapshot
from ml.services.snapshots import build_snapshot, snapshot_cases


def test_snapshot_splits_by_patient_so_no_patient_is_on_two_sides(make_case_project):
    # given a project of 10 patients with 2 exams each
    project = make_case_project(n_patients=10, exams_per_patient=2)
    # when it is snapshotted, stratified on pathology
    snapshot = build_snapshot(project, stratify_key="pathology")
    # then every exam is in one split, and each patient's exams share one split
    cases = snapshot_cases(snapshot)
    assert len(cases) == 20
    sides: dict[str, set[str]] = {}
    for case in cases:
        sides.setdefault(case.patient, set()).add(snapshot.split[case.key])
    assert all(len(s) == 1 for s in sides.values())
    assert {"train", "val", "test"} <= set(snapshot.split.values())


def test_snapshot_of_unchanged_data_is_reused_and_changed_labels_make_a_new_hash(make_case_project):
    # given a snapshot of a project
    project = make_case_project(n_patients=6, exams_per_patient=1)
    first = build_snapshot(project, stratify_key="pathology")
    # when it is built again unchanged, then the same row and hash come back
    again = build_snapshot(project, stratify_key="pathology")
    assert again.pk == first.pk
    # when one label changes, then a new snapshot with another hash is made, the old one kept
    label = ExamLabel.objects.filter(project=project, pathology="benign").first()
    ExamLabel.objects.filter(pk=label.pk).update(pathology="malignant")
    changed = build_snapshot(project, stratify_key="pathology")
    assert changed.pk != first.pk
    assert changed.content_hash != first.content_hash
    first.refresh_from_db()
    assert first.manifest  # the first snapshot still describes what it held


def test_saved_snapshot_cannot_be_modified(make_case_project):
    # given a stored snapshot
    snapshot = build_snapshot(make_case_project(n_patients=4, exams_per_patient=1))
    # when someone changes and saves it, then it is refused and the row is unchanged
    snapshot.split = {}
    with pytest.raises(ValueError, match="immutable"):
        snapshot.save()
    assert DatasetSnapshot.objects.get(pk=snapshot.pk).split


def test_cases_rebuilt_from_the_manifest_read_pixels_masks_and_labels(make_case_project):
    # given a snapshot of malignant/benign cases with polygon outlines
    snapshot = build_snapshot(make_case_project(n_patients=2, exams_per_patient=1))
    # when its cases are rebuilt
    cases = {c.labels["pathology"]: c for c in snapshot_cases(snapshot)}
    malignant = cases["malignant"]
    # then pixels come from the pixel cache, the mask from the stored PNG, lesions from marks
    pixels = malignant.images[0].load()
    assert pixels.shape == (32, 32)
    assert pixels[16, 16] > pixels[0, 0]
    mask = malignant.images[0].mask()
    assert mask.sum() > 0 and mask[0, 0] == 0
    assert malignant.labels["malignant"] == 1 and cases["benign"].labels["malignant"] == 0
    assert any(abs(les.cx - 16) < 1 for les in malignant.lesions)


def test_project_without_annotated_images_cannot_be_snapshotted(make_project):
    with pytest.raises(ValueError, match="No annotated exams"):
        build_snapshot(make_project())
