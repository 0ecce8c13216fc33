"""Reading schemas for the admin page (walnats_django.asyncapi.page)."""

from __future__ import annotations

from typing import Any

import pytest

from walnats_django.asyncapi.page import schema_view, type_label


@pytest.mark.parametrize(
    ("schema", "label"),
    [
        ({}, "any"),
        ({"type": "string"}, "string"),
        ({"type": "string", "format": "date-time"}, "string (date-time)"),
        ({"$ref": "#/components/schemas/Address"}, "Address"),
        ({"const": "cat"}, '= "cat"'),
        ({"enum": ["a", 1, None]}, 'one of "a", 1, null'),
        ({"anyOf": [{"type": "integer"}, {"type": "null"}]}, "integer or null"),
        (
            {"oneOf": [{"$ref": "#/components/schemas/Cat"}, {"$ref": "#/components/schemas/Dog"}]},
            "Cat or Dog",
        ),
        ({"type": "array"}, "list"),
        ({"type": "array", "items": {"$ref": "#/components/schemas/Node"}}, "list of Node"),
        ({"type": "array", "items": [{"type": "integer"}, {"type": "string"}]}, "tuple of (integer, string)"),
        ({"type": "object", "additionalProperties": {"type": "number"}}, "map of string to number"),
        ({"type": "object", "properties": {"a": {}}, "additionalProperties": False}, "object"),
    ],
)
def test_type_labels(schema: dict[str, Any], label: str) -> None:
    assert type_label(schema) == label


def test_fields_of_an_object_with_links_to_components() -> None:
    view = schema_view(
        {
            "type": "object",
            "properties": {
                "lines": {"type": "array", "items": {"$ref": "#/components/schemas/Line"}},
                "note": {"type": "string", "description": "Free text."},
            },
            "required": ["lines"],
        }
    )
    assert [(f.name, f.type, f.ref, f.required, f.description) for f in view.fields] == [
        ("lines", "list of Line", "Line", True, ""),
        ("note", "string", None, False, "Free text."),
    ]
    assert view.json.startswith('{\n  "type": "object"')
