"""The clinical schema of a project: which free fields a clinical record may carry.

Format (a small JSON-Schema-like object): field name -> {"type": "number" | "integer" | "text" |
"choice" | "bool", "choices": [...] (for choice), "minimum"/"maximum" (for numbers),
"required": bool}. A record's free fields must be declared here and have the declared type.
"""

from __future__ import annotations

from typing import Any

from senolab.projects.schema import LabelSchemaError

FIELD_TYPES = {"number", "integer", "text", "choice", "bool"}


def validate_clinical_schema(schema: Any) -> dict[str, Any]:
    """Return the schema, or raise LabelSchemaError with a message that says what is wrong."""
    if not isinstance(schema, dict):
        raise LabelSchemaError("The clinical schema must be a JSON object of name -> definition.")
    for name, spec in schema.items():
        if not isinstance(spec, dict) or spec.get("type") not in FIELD_TYPES:
            raise LabelSchemaError(
                f"Clinical field '{name}' needs a type: one of {', '.join(sorted(FIELD_TYPES))}."
            )
        if spec["type"] == "choice" and (
            not isinstance(spec.get("choices"), list) or not spec["choices"]
        ):
            raise LabelSchemaError(f"Clinical field '{name}' is a choice but lists no choices.")
        for bound in ("minimum", "maximum"):
            if bound in spec and not _is_number(spec[bound]):
                raise LabelSchemaError(f"Clinical field '{name}': {bound} must be a number.")
    return schema


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _type_ok(kind: str, value: Any, spec: dict[str, Any]) -> bool:
    if kind == "text":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "choice":
        return value in spec.get("choices", [])
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return _is_number(value)


def check_clinical_fields(schema: dict[str, Any], fields: Any) -> None:
    """Raise LabelSchemaError unless fields fits the project's clinical schema."""
    if not isinstance(fields, dict):
        raise LabelSchemaError("'fields' must be a JSON object.")
    for name, value in fields.items():
        spec = schema.get(name)
        if spec is None:
            raise LabelSchemaError(f"'{name}' is not a field of this project's clinical schema.")
        if value is None:
            continue
        if not _type_ok(spec["type"], value, spec):
            raise LabelSchemaError(f"Clinical field '{name}' must be a {spec['type']}.")
        if _is_number(value):
            if "minimum" in spec and value < spec["minimum"]:
                raise LabelSchemaError(f"Clinical field '{name}' is below {spec['minimum']}.")
            if "maximum" in spec and value > spec["maximum"]:
                raise LabelSchemaError(f"Clinical field '{name}' is above {spec['maximum']}.")
    missing = [n for n, s in schema.items() if s.get("required") and fields.get(n) is None]
    if missing:
        raise LabelSchemaError(f"Required clinical fields missing: {', '.join(sorted(missing))}.")
