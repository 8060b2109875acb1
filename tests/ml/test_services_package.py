"""The Django side of ML: services raise domain errors and import one another one way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ml.services import prediction, training
from ml.services.errors import ExamsNotInProject, MLServiceError, RecipeNotFound
from senolab.imaging.models import Exam, Patient
from tests.ml.test_api import make_version

SERVICES = Path(__file__).resolve().parents[2] / "ml" / "services"


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(module, imported inside a function) for every import statement of a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    local = {
        id(node)
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(fn)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, id(node) in local))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, id(node) in local) for alias in node.names)
    return found


def test_service_modules_never_import_tasks_http_or_each_other_inside_functions():
    for path in sorted(SERVICES.glob("*.py")):
        for module, inside_function in _imports(path):
            assert module != "ml.tasks", f"{path.name} imports the Celery tasks"
            assert not module.startswith("rest_framework"), f"{path.name} raises HTTP errors"
            if inside_function and module.split(".")[0] in {"ml", "senolab", "annotations"}:
                # Only the engine's torch-loading API may be imported late, in engine.py.
                assert (path.name, module) == ("engine.py", "ml.engine"), (path.name, module)


def test_an_unknown_recipe_is_a_domain_error_and_creates_nothing(project):
    with pytest.raises(RecipeNotFound, match="no-such"):
        training.start_training(project, "no-such", enqueue=False)
    assert not project.jobs.exists()


def test_predicting_on_another_projects_exam_is_a_domain_error(make_project, project):
    other = make_project("Other")
    exam = Exam.objects.create(
        project=other,
        patient=Patient.objects.create(project=other, pseudonym="SNL-1"),
        study_uid="2.25.1",
    )
    with pytest.raises(ExamsNotInProject) as refused:
        prediction.start_prediction(make_version(project), [exam.pk])
    assert isinstance(refused.value, MLServiceError) and refused.value.field == "exams"
