"""A message body as the AsyncAPI document describes it: its content type and JSON Schema.

Decided by the serializer that actually encodes the body, so the document says what travels:
JSON for the JSON, dataclass and pydantic serializers, raw bytes, ISO 8601 text for datetimes.
A custom serializer describes itself with `json_schema()` (and `content_type`), else it is opaque.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from ..serializers import (
    BytesSerializer,
    DataclassSerializer,
    DatetimeSerializer,
    JSONSerializer,
    PydanticSerializer,
    Serializer,
)
from .errors import UnsupportedType
from .pydantic_schemas import add_models
from .schema import Components, Schema, TypeSchemas

JSON = "application/json"
BYTES = "application/octet-stream"
TEXT = "text/plain"


@runtime_checkable
class DescribedSerializer(Protocol):
    """A custom serializer that tells the AsyncAPI document what it sends.

    `content_type` is optional (default "application/json"); the schema must be self-contained
    (no `$ref` into the document).
    """

    def json_schema(self) -> dict[str, Any]: ...


@dataclasses.dataclass(frozen=True)
class Payload:
    """One message body: how it is encoded and its schema."""

    content_type: str
    schema: Schema
    serializer: str
    """The serializer's class, `module.Name`, for readers who share the Python code."""


class Payloads:
    """Describes bodies into one `Components`; pydantic models first, all together."""

    def __init__(self, components: Components, serializers: Iterable[Serializer[Any]]) -> None:
        self.types = TypeSchemas(components)
        models = [s.schema for s in serializers if isinstance(s, PydanticSerializer)]
        self._models = add_models(components, models)

    def describe(self, serializer: Serializer[Any], where: str) -> Payload:
        """The body that `serializer` encodes; `where` names it in errors (e.g. "payload of event 'x'")."""
        name = f"{type(serializer).__module__}.{type(serializer).__qualname__}"
        if isinstance(serializer, JSONSerializer):
            return Payload(JSON, self.types.json_value(serializer.schema, where), name)
        if isinstance(serializer, DataclassSerializer):
            return Payload(JSON, self.types.dataclass(serializer.schema, where), name)
        if isinstance(serializer, PydanticSerializer):
            return Payload(JSON, dict(self._models[serializer.schema]), name)
        if isinstance(serializer, BytesSerializer):
            return Payload(BYTES, {"type": "string", "format": "binary", "description": "Raw bytes."}, name)
        if isinstance(serializer, DatetimeSerializer):
            is_datetime = issubclass(serializer.schema, datetime.datetime)
            text: Schema = {
                "type": "string",
                "format": "date-time" if is_datetime else "date",
                "description": "ISO 8601 text, not JSON-quoted (Python's isoformat()).",
            }
            return Payload(TEXT, text, name)
        if isinstance(serializer, DescribedSerializer):
            schema = serializer.json_schema()
            if not isinstance(schema, dict):
                raise UnsupportedType(
                    f"{where}: {name}.json_schema() returned {type(schema).__name__}; return a dict."
                )
            content_type = getattr(serializer, "content_type", JSON)
            return Payload(str(content_type), schema, name)
        opaque: Schema = {
            "description": f"Encoded by the custom serializer {name}, which does not describe its "
            "format (it has no json_schema() method)."
        }
        return Payload(str(getattr(serializer, "content_type", BYTES)), opaque, name)
