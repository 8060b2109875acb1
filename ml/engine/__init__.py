"""Senolab's ML engine: torch + MONAI, no Django. Usable alone by a GPU worker or a notebook.

Importing this package does not import torch; `ml.engine.api` does.
"""

from ml.engine.errors import Cancelled, RecipeError

__all__ = ["Cancelled", "RecipeError"]
