"""Patient-level, stratified splits of cases and a content hash of a case list (no torch)."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from ml.engine.cases import Case

SPLIT_NAMES = ("train", "val", "test")


def _patient_stratum(cases: list[Case], label: str | None) -> str:
    """A patient's stratum: the most frequent label value over its cases ('' when unlabelled)."""
    if not label:
        return ""
    values = [str(c.labels[label]) for c in cases if label in c.labels]
    return max(sorted(set(values)), key=values.count) if values else ""


def split_cases(
    cases: Sequence[Case],
    *,
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    stratify: str | None = None,
) -> dict[str, list[Case]]:
    """Split cases into train/val/test by patient (no patient on two sides), stratified.

    Patients are grouped by their stratum (their majority label value) and each group is shuffled
    with `seed` and dealt out by the fractions, so every split gets its share of every class.
    """
    if len(fractions) != 3 or min(fractions) < 0 or sum(fractions) <= 0:
        raise ValueError("fractions must be three non-negative numbers")
    total = float(sum(fractions))
    by_patient: dict[str, list[Case]] = defaultdict(list)
    for case in cases:
        by_patient[case.patient or case.key].append(case)
    strata: dict[str, list[str]] = defaultdict(list)
    for patient in sorted(by_patient):
        strata[_patient_stratum(by_patient[patient], stratify)].append(patient)
    rng = np.random.default_rng(seed)
    out: dict[str, list[Case]] = {name: [] for name in SPLIT_NAMES}
    for stratum in sorted(strata):
        patients = list(strata[stratum])
        rng.shuffle(patients)
        n = len(patients)
        n_val = int(round(n * fractions[1] / total))
        n_test = int(round(n * fractions[2] / total))
        if n >= 3:  # every split sees each class when the stratum can afford it
            n_val = max(n_val, 1 if fractions[1] else 0)
            n_test = max(n_test, 1 if fractions[2] else 0)
        n_train = max(n - n_val - n_test, 0)
        parts = {
            "train": patients[:n_train],
            "val": patients[n_train : n_train + n_val],
            "test": patients[n_train + n_val :],
        }
        for name, members in parts.items():
            for patient in members:
                out[name].extend(by_patient[patient])
    for name in SPLIT_NAMES:
        out[name].sort(key=lambda c: c.key)
    return out


def snapshot_hash(cases: Sequence[Case]) -> str:
    """sha256 over what the cases are: keys, patients, labels, lesions and image identities.

    Pixels are not read (a snapshot can be large); the platform's image keys are stable content
    ids, and callers that need a pixel-level hash include checksums in the keys or labels.
    """
    canonical = []
    for case in sorted(cases, key=lambda c: c.key):
        canonical.append(
            {
                "key": case.key,
                "patient": case.patient,
                "site": case.site,
                "labels": {k: str(v) for k, v in sorted(case.labels.items())},
                "lesions": [
                    [
                        les.image_key,
                        round(les.cx, 3),
                        round(les.cy, 3),
                        round(les.radius, 3),
                        les.finding_type,
                        les.pathology,
                    ]
                    for les in case.lesions
                ],
                "images": [
                    [im.key, im.modality, im.laterality, im.view, im.mask is not None]
                    for im in case.images
                ],
            }
        )
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()
