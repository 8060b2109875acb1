"""Engine exceptions (no torch import: the Django side catches these without loading torch)."""


class Cancelled(Exception):
    """Raised inside train/evaluate/predict when the caller's should_stop() turned true."""


class RecipeError(ValueError):
    """A recipe file is missing a field, names an unknown network, or has a bad value."""


class LesionsRequired(ValueError):
    """A model trained on lesion crops was asked to read cases with no located lesion: it never
    saw a whole image in training, so it refuses them rather than read one.

    Args:
        case_keys: the cases without a located lesion on an image the model reads.
        recipe: the model's recipe name.
    """

    def __init__(self, case_keys: list[str], recipe: str) -> None:
        self.case_keys = list(case_keys)
        self.recipe = recipe
        super().__init__(
            f"The model ({recipe}) reads crops around located lesions and was never trained on "
            f"whole images: exam(s) {', '.join(self.case_keys)} have no located lesion. Mark the "
            "lesion (a point, ellipse, box or outline) first, then run the model."
        )


class DropoutUnavailable(ValueError):
    """Monte Carlo dropout samples were asked of a model that cannot give them: its network has
    no dropout layer (sampling it would repeat one deterministic output, and BALD on that is
    zero everywhere), or its task has no class probabilities to sample."""
