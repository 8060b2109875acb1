"""Requests the ML services refuse. Services raise these, never HTTP exceptions; the API views
(ml/api/views.py) answer them with a 400 whose message is the error's text, under its `field`."""

from __future__ import annotations


class MLServiceError(Exception):
    """A request that cannot be done as asked; `field` names the input it is about."""

    field = "non_field_errors"


class RecipeNotFound(MLServiceError):
    field = "recipe"

    def __init__(self, name: str) -> None:
        super().__init__(f"Unknown recipe {name!r}; see /api/recipes/.")
        self.name = name


class ParentVersionMismatch(MLServiceError):
    field = "parent_version"

    def __init__(self) -> None:
        super().__init__("No such model version in this project.")


class ExamsNotInProject(MLServiceError):
    field = "exams"

    def __init__(self) -> None:
        super().__init__("Some exams do not exist in this project.")


class NothingToTrain(MLServiceError, ValueError):
    """No annotated exam with images (and the recipe's label) to build a snapshot from."""


class NothingToEvaluate(MLServiceError, ValueError):
    """No case with ground truth to evaluate a model version on."""


class NoActiveModel(MLServiceError):
    """Pre-annotation asked of a project (or an exam's modality) with no active model version."""

    field = "exams"

    def __init__(self, what: str) -> None:
        super().__init__(
            f"No active model version for {what}: activate one on its version page first."
        )


class NotAPredictionJob(MLServiceError):
    field = "job"

    def __init__(self) -> None:
        super().__init__("Only a prediction or pre-annotation job can be resumed.")


class JobNotResumable(MLServiceError):
    field = "job"

    def __init__(self, status: str) -> None:
        super().__init__(
            f"This job is {status}: only a failed or cancelled job is resumed (the images it "
            "finished are kept and skipped)."
        )
