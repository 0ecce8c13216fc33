"""Python types as JSON Schemas (walnats_django.asyncapi.schema, payloads, pydantic_schemas).

The schemas must describe the bytes the real serializers send: every sample of
tests/asyncapi/kinds.py is encoded with its event's serializer and validated against the document.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

import jsonschema
import pydantic
import pytest
from referencing import Registry as RefRegistry
from referencing.jsonschema import DRAFT7

from tests.asyncapi.kinds import KINDS, Address, Order, registry_of_kinds, samples
from walnats_django.asyncapi import Info, UnsupportedType, build_document
from walnats_django.asyncapi.payloads import BYTES, JSON, TEXT, Payloads
from walnats_django.asyncapi.pydantic_schemas import draft7
from walnats_django.asyncapi.schema import Components, TypeSchemas
from walnats_django.serializers import get_serializer


class Shade(enum.Enum):
    DARK = "dark"


@dataclasses.dataclass
class WithTime:
    at: datetime.datetime


@dataclasses.dataclass
class WithBytes:
    data: bytes


@dataclasses.dataclass
class WithSet:
    tags: set[str]


@dataclasses.dataclass
class WithUuid:
    id: uuid.UUID


@dataclasses.dataclass
class WithModel:
    inner: Address
    model: Model


class Model(pydantic.BaseModel):
    x: int


@dataclasses.dataclass
class Unresolvable:
    thing: NotDefinedAnywhere  # type: ignore[name-defined]  # noqa: F821


def json_schema(tp: Any) -> dict[str, Any]:
    return TypeSchemas(Components()).json_value(tp, "payload of event 'x'")


@pytest.mark.parametrize(
    ("tp", "expected"),
    [
        (str, {"type": "string"}),
        (int, {"type": "integer"}),
        (float, {"type": "number"}),
        (bool, {"type": "boolean"}),
        (None, {"type": "null"}),
        (type(None), {"type": "null"}),
        (Any, {}),
        (object, {}),
        (list, {"type": "array"}),
        (dict, {"type": "object"}),
        (list[int], {"type": "array", "items": {"type": "integer"}}),
        (Sequence[str], {"type": "array", "items": {"type": "string"}}),
        (tuple[str, ...], {"type": "array", "items": {"type": "string"}}),
        (
            tuple[int, str],
            {
                "type": "array",
                "items": [{"type": "integer"}, {"type": "string"}],
                "additionalItems": False,
                "minItems": 2,
                "maxItems": 2,
            },
        ),
        (dict[str, float], {"type": "object", "additionalProperties": {"type": "number"}}),
        (Mapping[str, Any], {"type": "object", "additionalProperties": {}}),
        (
            dict[int, str],
            {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "propertyNames": {"pattern": "^-?[0-9]+$"},
            },
        ),
        (int | None, {"anyOf": [{"type": "integer"}, {"type": "null"}]}),
        (str | list[int], {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "integer"}}]}),
        (Literal["a"], {"const": "a"}),
        (Literal["a", 1, None], {"enum": ["a", 1, None]}),
        (enum.StrEnum("Mood", ["HAPPY"]), {"type": "string", "title": "Mood", "enum": ["happy"]}),
        (enum.IntEnum("Level", ["ONE", "TWO"]), {"type": "integer", "title": "Level", "enum": [1, 2]}),
    ],
)
def test_json_types(tp: Any, expected: dict[str, Any]) -> None:
    assert json_schema(tp) == expected


@pytest.mark.parametrize(
    ("tp", "fragment"),
    [
        (bytes, "send base64 text"),
        (datetime.datetime, "send an ISO 8601 str"),
        (set[int], "use list[...]"),
        (Decimal, "decimal.Decimal cannot be encoded by json"),
        (Shade, "derive it from StrEnum or IntEnum"),
        (dict[tuple[int, int], str], "use dict[str, ...]"),
        (Literal[b"x"], "is not a JSON string, number, boolean or null"),
        (list[Address], "the dataclass Address inside a JSON value"),
    ],
)
def test_types_json_cannot_encode_are_refused(tp: Any, fragment: str) -> None:
    with pytest.raises(UnsupportedType, match=r"^payload of event 'x'") as caught:
        json_schema(tp)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("cls", "fragment"),
    [
        (WithTime, "field 'at': datetime cannot be encoded by json"),
        (WithBytes, "field 'data': bytes cannot be encoded by json"),
        (WithSet, "field 'tags': set cannot be encoded by json"),
        (WithUuid, "field 'id': uuid.UUID cannot be encoded by json"),
        (WithModel, "field 'model': tests.test_asyncapi_schema.Model cannot be encoded by json"),
        (Unresolvable, "cannot be resolved (NameError"),
    ],
)
def test_dataclass_fields_json_cannot_encode_are_refused(cls: type[Any], fragment: str) -> None:
    with pytest.raises(UnsupportedType, match=r"^payload of event 'x'") as caught:
        TypeSchemas(Components()).dataclass(cls, "payload of event 'x'")
    assert fragment in str(caught.value)
    # What the document refuses, the serializer cannot send either (Unresolvable aside: it never
    # gets an instance here).
    if cls is WithTime:
        with pytest.raises(TypeError):
            get_serializer(cls).encode(WithTime(datetime.datetime.now()))


def test_a_dataclass_is_a_component_with_required_fields_and_defaults() -> None:
    components = Components()
    assert TypeSchemas(components).dataclass(Address, "payload") == {"$ref": "#/components/schemas/Address"}
    assert components.schemas["Address"] == {
        "type": "object",
        "title": "Address",
        "description": "Where a parcel goes.",
        "properties": {
            "street": {"type": "string"},
            "city": {"type": "string"},
            "zip": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        },
        "required": ["street", "city"],
        "additionalProperties": False,
    }


def test_nested_dataclasses_share_one_component() -> None:
    components = Components()
    TypeSchemas(components).dataclass(Order, "payload")
    assert set(components.schemas) == {"Order", "Address"}
    order = components.schemas["Order"]
    assert order["properties"]["address"] == {"$ref": "#/components/schemas/Address"}
    assert order["properties"]["lines"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Address"},
    }
    assert order["properties"]["id"] == {"type": "integer"}  # NewType
    assert order["properties"]["note"] == {"type": "string", "default": ""}  # Annotated
    assert "scores" not in order["required"]  # default_factory


def test_a_dataclass_without_docstring_has_no_description() -> None:
    @dataclasses.dataclass
    class Plain:
        name: str

    components = Components()
    TypeSchemas(components).dataclass(Plain, "payload")
    assert Plain.__doc__ == "Plain(name: 'str')"  # dataclasses' stand-in docstring
    assert "description" not in components.schemas["Plain"]


def test_two_dataclasses_with_one_name_get_two_components() -> None:
    @dataclasses.dataclass
    class Address:
        line: str

    components = Components()
    types = TypeSchemas(components)
    first = types.dataclass(Address, "payload")
    second = types.dataclass(Address, "payload")  # the same class again: the same key
    from tests.asyncapi import kinds

    other = types.dataclass(kinds.Address, "payload")
    assert first == second == {"$ref": "#/components/schemas/Address"}
    assert other == {"$ref": "#/components/schemas/tests.asyncapi.kinds.Address"}
    assert components.schemas["Address"]["properties"] == {"line": {"type": "string"}}
    assert "street" in components.schemas["tests.asyncapi.kinds.Address"]["properties"]
    # A third one: its qualified name is taken too, so a number; keys keep to AsyncAPI's characters.
    third = dataclasses.make_dataclass("Address", [("x", int)])
    third.__module__ = "tests.asyncapi.kinds"
    assert types.dataclass(third, "payload") == {"$ref": "#/components/schemas/tests.asyncapi.kinds.Address2"}
    local = dataclasses.make_dataclass("Address", [("y", int)])
    local.__module__, local.__qualname__ = "app", "make.<locals>.Address"
    assert types.dataclass(local, "payload") == {"$ref": "#/components/schemas/app.make._locals_.Address"}


def test_draft7_rewrites_only_keywords() -> None:
    schema = {
        "type": "object",
        "properties": {
            # Fields named like keywords stay fields.
            "discriminator": {"type": "string"},
            "prefixItems": {
                "type": "array",
                "prefixItems": [{"type": "integer"}],
                "items": {"type": "string"},
            },
            "pet": {"oneOf": [], "discriminator": {"propertyName": "kind", "mapping": {}}},
        },
        "default": {"prefixItems": 1},
    }
    assert draft7(schema) == {
        "type": "object",
        "properties": {
            "discriminator": {"type": "string"},
            "prefixItems": {
                "type": "array",
                "items": [{"type": "integer"}],
                "additionalItems": {"type": "string"},
            },
            "pet": {"oneOf": [], "discriminator": "kind"},
        },
        "default": {"prefixItems": 1},
    }


@pytest.mark.parametrize(
    ("schema", "content_type", "payload"),
    [
        (str, JSON, {"type": "string"}),
        (bytes, BYTES, {"type": "string", "format": "binary", "description": "Raw bytes."}),
        (
            datetime.datetime,
            TEXT,
            {
                "type": "string",
                "format": "date-time",
                "description": "ISO 8601 text, not JSON-quoted (Python's isoformat()).",
            },
        ),
        (
            datetime.date,
            TEXT,
            {
                "type": "string",
                "format": "date",
                "description": "ISO 8601 text, not JSON-quoted (Python's isoformat()).",
            },
        ),
        (Address, JSON, {"$ref": "#/components/schemas/Address"}),
        (Model, JSON, {"$ref": "#/components/schemas/Model"}),
    ],
)
def test_content_type_follows_the_serializer(schema: Any, content_type: str, payload: dict[str, Any]) -> None:
    serializer = get_serializer(schema)
    described = Payloads(Components(), [serializer]).describe(serializer, "payload")
    assert (described.content_type, described.schema) == (content_type, payload)
    assert described.serializer == f"walnats_django.serializers.{type(serializer).__name__}"


def test_custom_serializers_describe_themselves_or_are_opaque() -> None:
    by_name = {kind.event.name: kind.event for kind in KINDS}
    payloads = Payloads(Components(), [])
    csv = payloads.describe(by_name["kinds.csv"].payload_serializer, "payload")
    assert (csv.content_type, csv.schema) == (
        "text/csv",
        {"type": "string", "description": "Comma-separated values."},
    )
    opaque = payloads.describe(by_name["kinds.opaque"].payload_serializer, "payload")
    assert opaque.content_type == BYTES
    assert opaque.schema == {
        "description": "Encoded by the custom serializer tests.asyncapi.kinds.Opaque, which does not "
        "describe its format (it has no json_schema() method)."
    }


def test_a_json_schema_that_is_not_a_dict_is_refused() -> None:
    class Wrong:
        def encode(self, message: str) -> bytes:
            return message.encode()

        def decode(self, data: bytes) -> str:
            return data.decode()

        def json_schema(self) -> Any:
            return "string"

    with pytest.raises(UnsupportedType, match=r"payload of event 'x': .*Wrong.json_schema\(\) returned str"):
        Payloads(Components(), []).describe(Wrong(), "payload of event 'x'")


@pytest.fixture(scope="module")
def kinds_document() -> dict[str, Any]:
    return build_document(Info("kinds", "1"), events=registry_of_kinds(), task_queues=False)


def validator(document: dict[str, Any], pointer: str) -> jsonschema.Draft7Validator:
    """Validates against the schema at `pointer`, its `$ref`s resolved in `document`."""
    refs = RefRegistry().with_resource("urn:doc", DRAFT7.create_resource(document))
    return jsonschema.Draft7Validator({"$ref": f"urn:doc#{pointer}"}, registry=refs)


def wire_value(content_type: str, data: bytes) -> Any:
    """What a schema describes: the JSON value, or the text (bytes: its latin-1 characters)."""
    if content_type == JSON:
        return json.loads(data)
    return data.decode("latin-1" if content_type == BYTES else "utf-8")


@pytest.mark.parametrize(
    ("event", "part", "serializer", "sample"), list(samples()), ids=lambda v: str(v)[:30]
)
def test_samples_as_sent_fit_their_schemas(
    kinds_document: dict[str, Any], event: str, part: str, serializer: Any, sample: Any
) -> None:
    if part == "payload":
        pointer = f"/channels/{event}/messages/event"
    else:
        pointer = f"/channels/walnats-reply.{event}/messages/answer"
    described = _at(kinds_document, pointer)
    value = wire_value(described["contentType"], serializer.encode(sample))
    validator(kinds_document, pointer + "/payload").validate(value)


def test_the_sample_check_can_fail(kinds_document: dict[str, Any]) -> None:
    order = json.loads(KINDS[7].event.payload_serializer.encode(KINDS[7].payload))
    check = validator(kinds_document, "/channels/kinds.order/messages/event/payload")
    for broken in (
        {**order, "unknown": 1},
        {**order, "color": "blue"},
        {**order, "pair": [1, "a", 2]},
        {k: v for k, v in order.items() if k != "address"},
        {**order, "address": {"street": 1, "city": "x"}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            check.validate(broken)
    ship = validator(kinds_document, "/channels/kinds.ship/messages/event/payload")
    with pytest.raises(jsonschema.ValidationError):
        ship.validate({"at": "x", "pet": {"kind": "cow"}, "dims": [1, 2]})


def _at(document: dict[str, Any], pointer: str) -> Any:
    node: Any = document
    for part in pointer.strip("/").split("/"):
        node = node[part]
    return node
