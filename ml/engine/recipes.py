"""Training recipes: one TOML file per recipe under ml/recipes/, loaded into a Recipe dataclass.

A recipe names everything a run needs (network, input size, preprocessing, augmentation, loss,
sampler, schedule, metric to select on), so a run is reproducible from the recipe's name and the
data set snapshot alone. No torch here: the Django side lists recipes without loading it.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml.engine.errors import RecipeError

RECIPE_DIR = Path(__file__).resolve().parent.parent / "recipes"
TASKS = ("classification", "segmentation", "detection")
LOSSES = ("ce", "weighted_ce", "focal", "dice_ce", "heatmap_focal")
SAMPLERS = ("random", "balanced")


@dataclass(frozen=True)
class Preprocessing:
    """Per-modality preprocessing switches (see ml.engine.preprocess).

    Args:
        crop_breast: crop mammograms to the breast region and zero the background.
        flip_to_left: mirror right-breast images so every breast faces the same way.
        window: "percentile" (0.5-99.5 %), "minmax" or "none" intensity normalisation.
        clahe: contrast-limited adaptive histogram equalisation after windowing.
        trim_text_margins: drop ultrasound scanner text/ruler margins.
        lesion_roi: when > 0, a case with located lesions is read as one square crop per
            lesion, centred on it, of half-side `lesion_roi` radii (at least `roi_min_side`
            pixels of the original image a side), instead of its whole images: the model
            classifies a marked finding at full detail. Cases without a located lesion are
            read whole.
        roi_min_side: smallest side of a lesion crop, in original pixels.
    """

    crop_breast: bool = False
    flip_to_left: bool = False
    window: str = "percentile"
    clahe: bool = False
    trim_text_margins: bool = False
    lesion_roi: float = 0.0
    roi_min_side: int = 96


@dataclass(frozen=True)
class Augmentation:
    """MONAI augmentations applied on the training split only.

    Args:
        flip: probability of a horizontal and of a vertical flip.
        rot90: probability of a random multiple-of-90-degree rotation.
        scale: (min, max) random zoom factors (cropped/padded back to size); (1, 1) disables.
        intensity: amplitude of random intensity scale and shift; 0 disables.
    """

    flip: float = 0.5
    rot90: float = 0.0
    scale: tuple[float, float] = (1.0, 1.0)
    intensity: float = 0.0


@dataclass(frozen=True)
class Recipe:
    """A named training recipe.

    Args:
        name: file stem under ml/recipes/.
        task: "classification", "segmentation" or "detection".
        label: the Case.labels key learnt ("malignant", "density", ...); for segmentation and
            detection the ground truth is the masks/lesions and label names what they are.
        modality: "MG", "US", ... (images of other modalities in a case are ignored).
        classes: display names of the classes, positive class last for binary tasks.
        values: the Case.labels values that map to each class (defaults to classes).
        network: MONAI network name (see ml.engine.networks).
        input_size: (height, width) the model sees.
        precision: "auto" (bf16 where the hardware has it), "bf16", "fp16" (CUDA) or "fp32".
    """

    name: str
    task: str
    label: str
    modality: str
    classes: tuple[str, ...]
    network: str
    input_size: tuple[int, int]
    description: str = ""
    values: tuple[Any, ...] = ()
    network_args: dict[str, Any] = field(default_factory=dict)
    in_channels: int = 1
    preprocessing: Preprocessing = Preprocessing()
    augmentation: Augmentation = Augmentation()
    loss: str = "ce"
    sampler: str = "random"
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"
    milestones: tuple[int, ...] = ()
    select_metric: str = "auc"
    patience: int = 10
    aggregate: str = "max"
    heatmap_sigma: float = 2.0
    max_detections: int = 5
    seed: int = 0
    precision: str = "auto"
    published: dict[str, Any] = field(default_factory=dict)

    @property
    def label_values(self) -> tuple[Any, ...]:
        return self.values or self.classes

    def class_index(self, value: Any) -> int | None:
        """The class index of a Case.labels value, or None when it is not one of the classes."""
        wanted = [str(v) for v in self.label_values]
        return wanted.index(str(value)) if str(value) in wanted else None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _tuple(value: Any) -> tuple:
    return tuple(value) if isinstance(value, list | tuple) else (value,)


def recipe_from_dict(name: str, data: dict[str, Any]) -> Recipe:
    """Validate a recipe's parsed TOML (or a dict from an artifact) and build the Recipe."""
    data = dict(data)
    data.pop("name", None)
    known = {f.name for f in dataclasses.fields(Recipe)}
    unknown = set(data) - known
    if unknown:
        raise RecipeError(f"recipe {name!r}: unknown field(s) {sorted(unknown)}")
    for required in ("task", "label", "modality", "network", "input_size"):
        if required not in data:
            raise RecipeError(f"recipe {name!r}: missing field {required!r}")
    if data["task"] not in TASKS:
        raise RecipeError(f"recipe {name!r}: task must be one of {TASKS}")
    size = _tuple(data["input_size"])
    data["input_size"] = (int(size[0]), int(size[-1]))
    data["classes"] = tuple(str(c) for c in _tuple(data.get("classes", ())))
    if data["task"] == "classification" and len(data["classes"]) < 2:
        raise RecipeError(f"recipe {name!r}: a classifier needs at least two classes")
    if data["task"] != "classification" and not data["classes"]:
        data["classes"] = ("background", data["label"])
    data["values"] = _tuple(data.get("values", ())) if "values" in data else ()
    if data["values"] and len(data["values"]) != len(data["classes"]):
        raise RecipeError(f"recipe {name!r}: values and classes differ in length")
    data["milestones"] = tuple(int(m) for m in _tuple(data.get("milestones", ())))
    data["preprocessing"] = Preprocessing(**data.get("preprocessing", {}))
    aug = dict(data.get("augmentation", {}))
    if "scale" in aug:
        aug["scale"] = tuple(float(s) for s in aug["scale"])
    data["augmentation"] = Augmentation(**aug)
    if data.get("loss", "ce") not in LOSSES:
        raise RecipeError(f"recipe {name!r}: loss must be one of {LOSSES}")
    if data.get("sampler", "random") not in SAMPLERS:
        raise RecipeError(f"recipe {name!r}: sampler must be one of {SAMPLERS}")
    try:
        return Recipe(name=name, **data)
    except TypeError as exc:
        raise RecipeError(f"recipe {name!r}: {exc}") from exc


def load_recipe(name: str, directory: Path | None = None) -> Recipe:
    """Load ml/recipes/<name>.toml. Raises KeyError for an unknown name, RecipeError if invalid."""
    directory = directory or RECIPE_DIR
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise KeyError(name)
    path = directory / f"{name}.toml"
    if not path.is_file():
        raise KeyError(name)
    with open(path, "rb") as fh:
        try:
            data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise RecipeError(f"recipe {name!r}: {exc}") from exc
    return recipe_from_dict(name, data)


def list_recipes(directory: Path | None = None) -> list[Recipe]:
    """Every recipe shipped under ml/recipes/, sorted by name."""
    directory = directory or RECIPE_DIR
    return [load_recipe(p.stem, directory) for p in sorted(directory.glob("*.toml"))]
