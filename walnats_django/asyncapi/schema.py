"""JSON Schemas of Python types, describing the JSON that the default serializers send.

Only what `json` (and `dataclasses.asdict`) can encode is described; anything else raises
`UnsupportedType` naming the field, because such a payload would fail at `emit()` anyway.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime
import enum
import json
import re
import types
import typing
from typing import Any, Literal, Union

from .errors import UnsupportedType

Schema = dict[str, Any]
REF_PREFIX = "#/components/schemas/"

_SCALARS: dict[type, Schema] = {
    bool: {"type": "boolean"},
    int: {"type": "integer"},
    float: {"type": "number"},
    str: {"type": "string"},
}
_ARRAYS = (list, tuple, collections.abc.Sequence, collections.abc.Set)
_UNSAFE_KEY = re.compile(r"[^A-Za-z0-9._-]")
"""Characters AsyncAPI does not allow in a component's key."""
_OBJECTS = (dict, collections.abc.Mapping)


class Components:
    """The document's `components.schemas`: named schemas that payloads point to with `$ref`."""

    def __init__(self) -> None:
        self.schemas: dict[str, Schema] = {}
        self._keys: dict[object, str] = {}

    def key_of(self, owner: object) -> str | None:
        """The key already given to `owner` (a class), if any."""
        return self._keys.get(owner)

    def claim(self, owner: object, *names: str) -> str:
        """Reserve the first free name of `names` (or the last with a number) for `owner`."""
        names = tuple(_UNSAFE_KEY.sub("_", name) for name in names)
        for name in names:
            if name not in self.schemas:
                break
        else:
            base, number = names[-1], 2
            while f"{base}{number}" in self.schemas:
                number += 1
            name = f"{base}{number}"
        self.schemas[name] = {}
        self._keys[owner] = name
        return name

    def add(self, key: str, schema: Schema) -> None:
        """Set the schema named `key` (claimed before, or a fixed name such as the headers)."""
        self.schemas[key] = schema

    @staticmethod
    def ref(key: str) -> Schema:
        return {"$ref": REF_PREFIX + key}


class TypeSchemas:
    """Maps Python types to JSON Schemas (draft 7, as AsyncAPI's schema format), dataclasses by `$ref`."""

    def __init__(self, components: Components) -> None:
        self.components = components

    def json_value(self, tp: Any, where: str) -> Schema:
        """The schema of `json.dumps(value)` for a value of type `tp` (no dataclasses)."""
        return self._schema(tp, where, dataclasses_ok=False)

    def dataclass(self, cls: type[Any], where: str) -> Schema:
        """A `$ref` to the schema of `dataclasses.asdict()` of `cls`, as JSON."""
        return self._dataclass(cls, where)

    def _schema(self, tp: Any, where: str, *, dataclasses_ok: bool) -> Schema:
        tp = _unwrap(tp)
        if tp is typing.Any or tp is object:
            return {}
        if tp is None or tp is type(None):
            return {"type": "null"}
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is Union or origin is types.UnionType:
            return {"anyOf": [self._schema(arg, where, dataclasses_ok=dataclasses_ok) for arg in args]}
        if origin is Literal:
            return _literal(args, where)
        if origin is not None:
            return self._generic(tp, origin, args, where, dataclasses_ok=dataclasses_ok)
        if not isinstance(tp, type):
            raise UnsupportedType(f"{where}: {tp!r} is not a type the AsyncAPI document can describe.")
        if issubclass(tp, enum.Enum):
            return _enum(tp, where)
        for scalar, schema in _SCALARS.items():
            if issubclass(tp, scalar):
                return dict(schema)
        if dataclasses.is_dataclass(tp):
            if dataclasses_ok:
                return self._dataclass(tp, where)
            raise UnsupportedType(
                f"{where}: the dataclass {tp.__qualname__} inside a JSON value is not sent as an object "
                "(json cannot encode it); make the payload itself a dataclass, or use a pydantic model."
            )
        if issubclass(tp, tuple | list):
            return {"type": "array"}
        if issubclass(tp, dict):
            return {"type": "object"}
        raise UnsupportedType(f"{where}: {_hint(tp)}")

    def _generic(
        self, tp: Any, origin: Any, args: tuple[Any, ...], where: str, *, dataclasses_ok: bool
    ) -> Schema:
        def inner(arg: Any, suffix: str) -> Schema:
            return self._schema(arg, f"{where}{suffix}", dataclasses_ok=dataclasses_ok)

        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return {"type": "array", "items": inner(args[0], "[]")}
            if args == ((),):
                return {"type": "array", "maxItems": 0}
            items = [inner(arg, f"[{index}]") for index, arg in enumerate(args)]
            return {
                "type": "array",
                "items": items,
                "additionalItems": False,
                "minItems": len(items),
                "maxItems": len(items),
            }
        if isinstance(origin, type) and issubclass(origin, _OBJECTS):
            key = args[0] if args else str
            value = args[1] if len(args) > 1 else typing.Any
            schema: Schema = {"type": "object", "additionalProperties": inner(value, "[value]")}
            if _unwrap(key) is int:
                schema["propertyNames"] = {"pattern": "^-?[0-9]+$"}
            elif _unwrap(key) not in (str, typing.Any) and not (
                isinstance(key, type) and issubclass(key, str)
            ):
                raise UnsupportedType(
                    f"{where}: JSON object keys are text; use dict[str, ...] instead of {tp!r}."
                )
            return schema
        if isinstance(origin, type) and issubclass(origin, _ARRAYS) and not issubclass(origin, str | bytes):
            if issubclass(origin, collections.abc.Set):
                raise UnsupportedType(f"{where}: {_hint(origin)}")
            return {"type": "array", "items": inner(args[0], "[]")} if args else {"type": "array"}
        raise UnsupportedType(f"{where}: {tp!r} is not a type the AsyncAPI document can describe.")

    def _dataclass(self, cls: type[Any], where: str) -> Schema:
        key = self.components.key_of(cls)
        if key is not None:
            return self.components.ref(key)
        key = self.components.claim(cls, cls.__name__, f"{cls.__module__}.{cls.__qualname__}")
        try:
            hints = typing.get_type_hints(cls, include_extras=True)
        except Exception as exc:
            raise UnsupportedType(
                f"{where}: the annotations of dataclass {cls.__qualname__} cannot be resolved "
                f"({type(exc).__name__}: {exc}); import the types they name at module level."
            ) from exc
        properties: Schema = {}
        required: list[str] = []
        for field in dataclasses.fields(cls):
            schema = self._schema(hints[field.name], f"{where}, field {field.name!r}", dataclasses_ok=True)
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                required.append(field.name)
            elif field.default is not dataclasses.MISSING and _is_json(field.default):
                schema = {**schema, "default": field.default}
            properties[field.name] = schema
        described: Schema = {"type": "object", "title": cls.__name__}
        description = _docstring(cls)
        if description:
            described["description"] = description
        described["properties"] = properties
        if required:
            described["required"] = required
        # DataclassSerializer decodes with cls(**fields): an unknown field is an error.
        described["additionalProperties"] = False
        self.components.add(key, described)
        return self.components.ref(key)


def _unwrap(tp: Any) -> Any:
    """`Annotated[X, ...]` and `NewType` as the type they stand for."""
    while True:
        if typing.get_origin(tp) is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif hasattr(tp, "__supertype__"):
            tp = tp.__supertype__
        else:
            return tp


def _json_value(value: Any, where: str) -> Any:
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise UnsupportedType(
        f"{where}: the Literal value {value!r} is not a JSON string, number, boolean or null."
    )


def _literal(values: tuple[Any, ...], where: str) -> Schema:
    encoded = [_json_value(value, where) for value in values]
    return {"const": encoded[0]} if len(encoded) == 1 else {"enum": encoded}


def _enum(cls: type[enum.Enum], where: str) -> Schema:
    for base, schema in _SCALARS.items():
        if base is not bool and issubclass(cls, base):
            return {**schema, "title": cls.__name__, "enum": [member.value for member in cls]}
    raise UnsupportedType(
        f"{where}: the enum {cls.__qualname__} is not a str or int enum, so json cannot encode it; "
        "derive it from StrEnum or IntEnum."
    )


def _is_json(value: object) -> bool:
    if not isinstance(value, str | int | float | bool | type(None)):
        return False
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:
        return False
    return True


def _docstring(cls: type[Any]) -> str | None:
    doc = (cls.__doc__ or "").strip()
    # A dataclass without a docstring gets its signature as __doc__: not a description.
    if not doc or doc.startswith(f"{cls.__name__}("):
        return None
    return doc


def _hint(tp: type[Any]) -> str:
    """Why `tp` cannot travel inside a JSON payload, and what to use instead."""
    if issubclass(tp, datetime.date):
        return (
            f"{tp.__name__} cannot be encoded by json inside a payload; send an ISO 8601 str "
            "(value.isoformat()), make the whole payload a datetime, or use a pydantic model."
        )
    if issubclass(tp, bytes | bytearray):
        return (
            f"{tp.__name__} cannot be encoded by json inside a payload; send base64 text, "
            "or make the whole payload bytes."
        )
    if issubclass(tp, collections.abc.Set):
        return f"{tp.__name__} cannot be encoded by json; use list[...]."
    return (
        f"{tp.__module__}.{tp.__qualname__} cannot be encoded by json; use str, int, float, bool, None, "
        "list, dict, a str/int enum or a dataclass, a pydantic model payload, or a custom serializer "
        "with a json_schema() method."
    )
