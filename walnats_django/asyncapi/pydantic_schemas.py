"""JSON Schemas of pydantic models, from pydantic itself, made fit for AsyncAPI's schema format.

Pydantic writes JSON Schema 2020-12; AsyncAPI 3.0 reads draft 7 with a string `discriminator`.
All models are described in one call, so two models with one name get distinct keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .schema import REF_PREFIX, Components, Schema


def is_pydantic_model(schema: object) -> bool:
    """Whether `schema` is a pydantic v2 model class (False when pydantic is not installed)."""
    try:
        import pydantic
    except ImportError:
        return False
    return isinstance(schema, type) and issubclass(schema, pydantic.BaseModel)


def add_models(components: Components, models: Iterable[type[Any]]) -> dict[type[Any], Schema]:
    """Describe `models` (as serialized, the JSON they send) in `components`; a `$ref` per model."""
    unique = list(dict.fromkeys(models))
    if not unique:
        return {}
    from pydantic.json_schema import models_json_schema

    refs, definitions = models_json_schema(
        [(model, "serialization") for model in unique], ref_template=REF_PREFIX + "{model}"
    )
    for key, schema in definitions.get("$defs", {}).items():
        components.add(key, draft7(schema))
    return {model: dict(refs[(model, "serialization")]) for model in unique}


_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
"""Keywords whose value maps names (not keywords) to schemas."""
_DATA = frozenset({"default", "examples", "const", "enum"})
"""Keywords whose value is data, left as it is."""


def draft7(schema: Any) -> Any:
    """`schema` with 2020-12 keywords rewritten: `prefixItems` as an `items` list, and an
    OpenAPI-style `discriminator` object as its property name."""
    if isinstance(schema, list):
        return [draft7(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted: Schema = {}
    for key, value in schema.items():
        if key in _DATA:
            converted[key] = value
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            converted[key] = {name: draft7(item) for name, item in value.items()}
        else:
            converted[key] = draft7(value)
    if "prefixItems" in converted:
        rest = converted.pop("items", None)
        converted["items"] = converted.pop("prefixItems")
        converted["additionalItems"] = False if rest is None else rest
    discriminator = converted.get("discriminator")
    if isinstance(discriminator, dict):
        converted["discriminator"] = discriminator.get("propertyName")
    return converted
