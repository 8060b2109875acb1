"""The label schema of a project: the vocabulary experts and models label with."""

from __future__ import annotations

from typing import Any

FINDING_TYPES = ["mass", "calcification", "asymmetry", "architectural_distortion", "other"]
BIRADS = ["0", "1", "2", "3", "4", "4A", "4B", "4C", "5", "6"]
DENSITY = ["A", "B", "C", "D"]
PATHOLOGY = ["normal", "benign", "malignant", "unknown"]
MODALITIES = ["MG", "US", "MR", "SM", "OT"]


def default_label_schema() -> dict[str, Any]:
    return {
        "finding_types": list(FINDING_TYPES),
        "birads": list(BIRADS),
        "density": list(DENSITY),
        "pathology": list(PATHOLOGY),
        # Free-form attributes: name -> {"type": "choice"|"text"|"number"|"bool", "choices": [...],
        # "modalities": [...], "finding_types": [...]}; an empty or absent "modalities" means
        # every modality, an empty or absent "finding_types" every finding type.
        "attributes": {
            "mass_shape": {
                "type": "choice",
                "choices": ["oval", "round", "irregular"],
                "modalities": ["MG", "US"],
                "finding_types": ["mass"],
            },
            "mass_margin": {
                "type": "choice",
                "choices": [
                    "circumscribed",
                    "obscured",
                    "microlobulated",
                    "indistinct",
                    "spiculated",
                ],
                "modalities": ["MG", "US"],
                "finding_types": ["mass"],
            },
            "calcification_morphology": {
                "type": "choice",
                "choices": [
                    "typically_benign",
                    "amorphous",
                    "coarse_heterogeneous",
                    "fine_pleomorphic",
                    "fine_linear",
                ],
                "modalities": ["MG"],
                "finding_types": ["calcification"],
            },
        },
    }


# How a reader calls the schema's lists in a message (never the field's name in the code).
FIELD_WORDS = {
    "finding_types": "finding type",
    "birads": "BI-RADS category",
    "density": "breast density",
    "pathology": "pathology",
}


class LabelSchemaError(ValueError):
    """The schema, or a label checked against it, is not valid; the message says why."""


def words(name: str) -> str:
    """A schema name as words: "calcification_morphology" -> "calcification morphology"."""
    return name.replace("_", " ")


def validate_label_schema(schema: Any) -> dict[str, Any]:
    if not isinstance(schema, dict):
        raise LabelSchemaError("The label schema must be a JSON object.")
    for key in ("finding_types", "birads", "density", "pathology"):
        values = schema.get(key)
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, str) for v in values)
        ):
            raise LabelSchemaError(f"'{key}' must be a non-empty list of strings.")
        if len(set(values)) != len(values):
            raise LabelSchemaError(f"'{key}' lists a value twice.")
    attributes = schema.get("attributes", {})
    if not isinstance(attributes, dict):
        raise LabelSchemaError("'attributes' must be an object of name -> definition.")
    for name, spec in attributes.items():
        if not isinstance(spec, dict) or spec.get("type") not in {
            "choice",
            "text",
            "number",
            "bool",
        }:
            raise LabelSchemaError(
                f"Attribute '{name}' needs a type: one of choice, text, number, bool."
            )
        if spec["type"] == "choice" and not spec.get("choices"):
            raise LabelSchemaError(f"Attribute '{name}' is a choice but lists no choices.")
        unknown = set(spec.get("modalities", [])) - set(MODALITIES)
        if unknown:
            raise LabelSchemaError(
                f"Attribute '{name}' names unknown modalities: {sorted(unknown)}."
            )
        types = spec.get("finding_types", [])
        if not isinstance(types, list) or set(types) - set(schema["finding_types"]):
            raise LabelSchemaError(
                f"Attribute '{name}': 'finding_types' must list finding types of this schema."
            )
    return schema


def check_label(schema: dict[str, Any], field: str, value: str | None) -> None:
    """Raise LabelSchemaError when value is not one of the schema's values for field."""
    if value in (None, ""):
        return
    allowed = schema.get(field, [])
    if value not in allowed:
        raise LabelSchemaError(
            f"'{words(str(value))}' is not a {FIELD_WORDS.get(field, words(field))} of this "
            f"project; choose one of: {', '.join(words(str(a)) for a in allowed)}."
        )


def check_attributes(
    schema: dict[str, Any],
    attributes: dict[str, Any],
    modality: str | None,
    finding_type: str | None = None,
) -> None:
    """Raise LabelSchemaError unless each attribute is declared, fits the modality and the
    finding's type (a mass has no calcification morphology) and has a value of its kind."""
    declared = schema.get("attributes", {})
    for name, value in attributes.items():
        spec = declared.get(name)
        label = words(name).capitalize()
        if spec is None:
            raise LabelSchemaError(f"{label} is not a descriptor of this project's findings.")
        if modality and spec.get("modalities") and modality not in spec["modalities"]:
            raise LabelSchemaError(f"{label} does not apply to {modality} images.")
        types = spec.get("finding_types")
        if finding_type and types and finding_type not in types:
            raise LabelSchemaError(f"{label} does not describe a {words(finding_type)}.")
        kind = spec["type"]
        ok = (
            (kind == "choice" and value in spec.get("choices", []))
            or (kind == "text" and isinstance(value, str))
            or (
                kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool)
            )
            or (kind == "bool" and isinstance(value, bool))
        )
        if not ok:
            expected = {"choice": "one of: " + ", ".join(words(c) for c in spec.get("choices", []))}
            raise LabelSchemaError(f"{label} must be {expected.get(kind, f'a {kind}')}.")
