"""CSV of exam-, breast- and image-level labels."""

from __future__ import annotations

import csv
import io

from exports.model import ExportExam
from exports.tables import breast_csv, exam_csv, image_csv


def rows_of(chunks) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO("".join(chunks))))


def test_exam_rows_carry_labels_and_clinical_fields(exams):
    # When the exams are written with a clinical column
    rows = rows_of(
        exam_csv(exams, labels=("birads", "density", "finding_types"), clinical=("age_at_exam",))
    )
    # Then each exam is one row with its labels; lists are joined and unknowns empty
    assert rows == [
        {"exam": "1", "patient": "P1", "site": "north", "split": "train", "birads": "4A",
         "density": "C", "finding_types": "", "age_at_exam": "57"},
        {"exam": "2", "patient": "P2", "site": "south", "split": "test", "birads": "1",
         "density": "", "finding_types": "mass;other", "age_at_exam": ""},
    ]  # fmt: skip


def test_breast_rows_are_one_per_labelled_side(exams):
    rows = rows_of(breast_csv(exams))
    fields = ("exam", "laterality", "birads", "density", "pathology")
    assert [tuple(r[k] for k in fields) for r in rows] == [
        ("1", "L", "4A", "", "malignant"),
        ("2", "L", "", "B", ""),
        ("2", "R", "1", "", ""),
    ]  # fmt: skip


def test_image_rows_carry_acquisition_fields_and_image_labels(images):
    rows = rows_of(image_csv(images, labels=("birads", "pathology")))
    fields = ("image", "file_name", "view", "laterality", "birads")
    assert [tuple(r[k] for k in fields) for r in rows] == [
        ("11", "images/11.png", "CC", "L", "4A"),
        ("12", "images/12.png", "MLO", "L", ""),
        ("21", "images/21.png", "CC", "R", "1"),
    ]  # fmt: skip
    assert rows[0]["pathology"] == "malignant"


def test_many_rows_stream_in_several_chunks_with_one_header():
    # Given 2,000 exams
    exams = (ExportExam(str(i), f"P{i}", labels={"birads": "2"}) for i in range(2000))
    # When written
    chunks = list(exam_csv(exams))
    # Then the text came in pieces, and joined it holds one header and 2,000 rows
    assert len(chunks) > 2
    assert len(rows_of(chunks)) == 2000
    assert "".join(chunks).count("exam,patient") == 1


def test_a_value_with_a_comma_or_quote_survives(exams):
    odd = ExportExam("3", 'P "3", the odd', labels={"birads": "0"})
    [row] = rows_of(exam_csv([odd]))
    assert row["patient"] == 'P "3", the odd'
