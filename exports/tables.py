"""CSV of exam-, breast- and image-level labels, one row at a time (csv module).

Each table has its identifying columns, then the label columns asked for (BI-RADS, density,
pathology, ...), then clinical fields for exams. A value that is a list is joined with ';'.
Missing values are empty cells.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from exports.model import ExportExam, ExportImage

DEFAULT_LABELS = ("birads", "density", "pathology", "abnormal", "malignant", "finding_types")
EXAM_COLUMNS = ("exam", "patient", "site", "split")
BREAST_COLUMNS = ("exam", "patient", "site", "split", "laterality")
IMAGE_COLUMNS = (
    "image",
    "file_name",
    "exam",
    "patient",
    "site",
    "split",
    "modality",
    "laterality",
    "view",
)
ROWS_PER_CHUNK = 512


def _cell(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    return "" if value is None else value


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for n, row in enumerate(rows, 1):
        writer.writerow([_cell(v) for v in row])
        if n % ROWS_PER_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _values(mapping: Mapping[str, Any], names: Sequence[str]) -> list[Any]:
    return [mapping.get(name, "") for name in names]


def exam_csv(
    exams: Iterable[ExportExam],
    labels: Sequence[str] = DEFAULT_LABELS,
    clinical: Sequence[str] = (),
) -> Iterator[str]:
    """One row per exam: identifiers, labels, then clinical fields."""
    header = [*EXAM_COLUMNS, *labels, *clinical]
    rows = (
        [
            e.key,
            e.patient,
            e.site,
            e.split,
            *_values(e.labels, labels),
            *_values(e.clinical, clinical),
        ]
        for e in exams
    )
    return _csv(header, rows)


def breast_csv(
    exams: Iterable[ExportExam], labels: Sequence[str] = ("birads", "density", "pathology")
) -> Iterator[str]:
    """One row per labelled breast (L before R) of each exam."""
    header = [*BREAST_COLUMNS, *labels]
    rows = (
        [e.key, e.patient, e.site, e.split, side, *_values(e.breasts[side], labels)]
        for e in exams
        for side in sorted(e.breasts)
    )
    return _csv(header, rows)


def image_csv(
    images: Iterable[ExportImage], labels: Sequence[str] = DEFAULT_LABELS
) -> Iterator[str]:
    """One row per image: identifiers, acquisition fields, then image-level labels."""
    header = [*IMAGE_COLUMNS, *labels]
    rows = (
        [
            im.key,
            im.file_name,
            im.exam,
            im.patient,
            im.site,
            im.split,
            im.modality,
            im.laterality,
            im.view,
            *_values(im.labels, labels),
        ]
        for im in images
    )
    return _csv(header, rows)
