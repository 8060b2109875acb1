"""Engine exceptions (no torch import: the Django side catches these without loading torch)."""


class Cancelled(Exception):
    """Raised inside train/evaluate/predict when the caller's should_stop() turned true."""


class RecipeError(ValueError):
    """A recipe file is missing a field, names an unknown network, or has a bad value."""
