"""Payload serializers, byte-compatible with walnats 1.2.6 defaults."""

from __future__ import annotations

import dataclasses
import datetime
import json
from typing import Any, Protocol, TypeVar, runtime_checkable

from .errors import PayloadTypeError, SerializationError

T = TypeVar("T")
_COMPACT = (",", ":")


@runtime_checkable
class Serializer(Protocol[T]):
    """Anything with `encode(obj) -> bytes` and `decode(bytes) -> obj`."""

    def encode(self, message: T) -> bytes: ...

    def decode(self, data: bytes) -> T: ...


# walnats 1.2.6 calls json.dumps with its default ensure_ascii=True: keep the bytes identical,
# and lone surrogates (e.g. from surrogateescape'd file names) stay encodable as \udXXX.
# One encoder, built once: json.dumps with separators= builds a new one per call.
_encode_json = json.JSONEncoder(separators=_COMPACT).encode


_decode_json = json.JSONDecoder().decode


def _dumps(obj: object) -> bytes:
    if type(obj) is int:
        return int.__repr__(obj).encode()  # what json.dumps gives, without its encoder machinery
    return _encode_json(obj).encode()


def _loads(data: bytes) -> Any:
    """`json.loads(data)`, with a fast path for UTF-8 bytes (what walnats sends)."""
    if type(data) is bytes:
        try:
            return _decode_json(data.decode())
        except ValueError:
            pass  # a BOM, UTF-16/32 or invalid JSON: json.loads detects the encoding, words the error
    return json.loads(data)


@dataclasses.dataclass(frozen=True)
class JSONSerializer:
    """`str int float bool list dict None` as compact JSON (subclasses such as a `StrEnum` too)."""

    schema: Any

    def encode(self, message: Any) -> bytes:
        return _dumps(message)

    def decode(self, data: bytes) -> Any:
        message = _loads(data)
        schema = self.schema
        if (
            isinstance(schema, type)
            and schema not in _JSON_TYPES
            and issubclass(schema, _JSON_TYPES)
            and not isinstance(message, schema)
        ):
            # A subclass such as a str/int Enum: JSON gives the base value, rebuild the subclass.
            base = next(t for t in _JSON_TYPES if issubclass(schema, t))
            check_instance(base, message, f"JSON value for {schema.__name__}")
            message = self.schema(message)
        return message


@dataclasses.dataclass(frozen=True)
class BytesSerializer:
    """`bytes` travel as they are."""

    def encode(self, message: bytes) -> bytes:
        return bytes(message)

    def decode(self, data: bytes) -> bytes:
        return bytes(data)


@dataclasses.dataclass(frozen=True)
class DatetimeSerializer:
    """`datetime` and `date` as ISO 8601 text (not JSON-quoted), as walnats does."""

    schema: type[datetime.date]

    def encode(self, message: datetime.date) -> bytes:
        return message.isoformat().encode()

    def decode(self, data: bytes) -> datetime.date:
        return self.schema.fromisoformat(data.decode())


@dataclasses.dataclass(frozen=True)
class DataclassSerializer:
    """A dataclass as a JSON object of its fields."""

    schema: type[Any]

    def encode(self, message: Any) -> bytes:
        return _dumps(dataclasses.asdict(message))

    def decode(self, data: bytes) -> Any:
        fields = _loads(data)
        if not isinstance(fields, dict):
            raise ValueError(f"expected a JSON object for {self.schema.__name__}")
        return self.schema(**fields)


@dataclasses.dataclass(frozen=True)
class PydanticSerializer:
    """A pydantic v2 model as its JSON."""

    schema: type[Any]

    def encode(self, message: Any) -> bytes:
        data: bytes = message.__pydantic_serializer__.to_json(message)
        return data

    def decode(self, data: bytes) -> Any:
        return self.schema.model_validate_json(data)


_JSON_TYPES = (str, int, float, bool, list, dict, type(None))


def _is_pydantic_model(schema: Any) -> bool:
    try:
        import pydantic
    except ImportError:
        return False
    return isinstance(schema, type) and issubclass(schema, pydantic.BaseModel)


def get_serializer(schema: Any) -> Serializer[Any]:
    """Pick the default serializer for `schema`, or raise `TypeError` naming the fix."""
    origin = getattr(schema, "__origin__", None) or schema
    if schema is None:
        return JSONSerializer(None)
    if _is_pydantic_model(schema):
        return PydanticSerializer(schema)
    if isinstance(schema, type) and dataclasses.is_dataclass(schema):
        return DataclassSerializer(schema)
    if isinstance(origin, type):
        if issubclass(origin, bytes):
            return BytesSerializer()
        if issubclass(origin, datetime.date):
            return DatetimeSerializer(origin)
        if issubclass(origin, _JSON_TYPES):
            return JSONSerializer(schema)
    raise TypeError(
        f"no default serializer for {schema!r}; use str, int, float, bool, list, dict, None, "
        "bytes, datetime, date, a dataclass or a pydantic model, or pass serializer=..."
    )


_EXACT = frozenset({str, bytes, dict, list, bool})


def check_instance(schema: Any, message: object, what: str) -> None:
    """Raise `PayloadTypeError` unless `message` fits `schema` (bool is not a number)."""
    if schema in _EXACT and type(message) is schema:
        return
    if schema is None or schema is type(None):
        ok = message is None
    else:
        origin = getattr(schema, "__origin__", None) or schema
        if not isinstance(origin, type):
            return
        if origin is float:
            ok = isinstance(message, int | float) and not isinstance(message, bool)
        elif origin is int:
            ok = isinstance(message, int) and not isinstance(message, bool)
        elif origin is datetime.date:
            ok = isinstance(message, datetime.date) and not isinstance(message, datetime.datetime)
        else:
            ok = isinstance(message, origin)
    if not ok:
        raise PayloadTypeError(
            f"{what} must be {_type_name(schema)}, got {type(message).__name__}: {message!r:.80}"
        )


def _type_name(schema: Any) -> str:
    if schema is None:
        return "None"
    return getattr(schema, "__name__", None) or repr(schema)


_BYTES = (bytes, bytearray)


def encode(serializer: Serializer[Any], message: object, what: str) -> bytes:
    """Encode with `serializer`, turning any failure into `SerializationError`."""
    try:
        data = serializer.encode(message)
    except Exception as exc:
        raise SerializationError(f"cannot encode {what}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(data, _BYTES):
        raise SerializationError(
            f"{type(serializer).__name__}.encode() returned {type(data).__name__}, not bytes"
        )
    return bytes(data)


_TYPE_CHECKED = (JSONSerializer, DatetimeSerializer, BytesSerializer)
"""Serializers whose decoded value is checked against the schema (the others build it)."""


def decode(serializer: Serializer[Any], schema: Any, data: bytes, what: str) -> Any:
    """Decode and type-check, turning any failure into `SerializationError`."""
    try:
        message = serializer.decode(data)
    except Exception as exc:
        raise SerializationError(
            f"cannot decode {what} ({len(data)} bytes): {type(exc).__name__}: {exc}"
        ) from exc
    if isinstance(serializer, _TYPE_CHECKED):
        try:
            check_instance(schema, message, what)
        except PayloadTypeError as exc:
            raise SerializationError(str(exc)) from exc
    return message
