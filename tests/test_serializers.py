"""Default serializers: exact bytes (walnats 1.2.6 compatible), round trips and type checks."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
from typing import Any

import pydantic
import pytest

from walnats_django.errors import PayloadTypeError, SerializationError
from walnats_django.serializers import (
    BytesSerializer,
    DataclassSerializer,
    DatetimeSerializer,
    JSONSerializer,
    PydanticSerializer,
    Serializer,
    check_instance,
    decode,
    encode,
    get_serializer,
)


@dataclasses.dataclass
class User:
    id: int
    name: str
    tags: list[str] = dataclasses.field(default_factory=list)


class Order(pydantic.BaseModel):
    id: int
    item: str
    amount: float


class Color(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Upper:
    """A custom serializer: any object with encode() and decode()."""

    def encode(self, message: str) -> bytes:
        return message.upper().encode()

    def decode(self, data: bytes) -> str:
        return data.decode().lower()


def walnats_json(message: object) -> bytes:
    """What walnats 1.2.6's PrimitiveSerializer and DataclassSerializer send."""
    return json.dumps(message, separators=(",", ":")).encode(encoding="utf8")


@pytest.mark.parametrize(
    ("schema", "message", "expected"),
    [
        (str, "hello", b'"hello"'),
        (int, 42, b"42"),
        (float, 1.5, b"1.5"),
        (bool, True, b"true"),
        (list, [1, "a", None], b'[1,"a",null]'),
        (dict, {"a": 1, "b": [1, 2]}, b'{"a":1,"b":[1,2]}'),
        (None, None, b"null"),
        (type(None), None, b"null"),
        (list[int], [3, 4], b"[3,4]"),
        (dict[str, int], {"x": 1}, b'{"x":1}'),
    ],
)
def test_json_primitives_exact_bytes_and_round_trip(schema: Any, message: object, expected: bytes) -> None:
    serializer = get_serializer(schema)
    assert isinstance(serializer, JSONSerializer)
    data = serializer.encode(message)
    assert data == expected
    assert data == walnats_json(message)
    assert serializer.decode(data) == message
    assert type(serializer.decode(data)) is type(message)


def test_json_is_compact() -> None:
    assert get_serializer(dict).encode({"a": 1}) == b'{"a":1}'
    assert get_serializer(list).encode([1, 2, 3]) == b"[1,2,3]"


def test_non_ascii_text_is_escaped_like_walnats() -> None:
    # walnats 1.2.6 uses json.dumps' default ensure_ascii=True.
    data = get_serializer(str).encode("café ☕")
    assert data == b'"caf\\u00e9 \\u2615"'
    assert data == walnats_json("café ☕")
    assert get_serializer(str).decode(data) == "café ☕"
    # A peer that sends raw UTF-8 still decodes.
    assert get_serializer(str).decode('"café"'.encode()) == "café"


def test_lone_surrogate_can_be_encoded() -> None:
    text = "name-\udcff"  # what os.fsdecode() makes of a non-UTF-8 file name
    serializer = get_serializer(str)
    assert serializer.decode(encode(serializer, text, "payload")) == text


def test_bytes_travel_raw() -> None:
    serializer = get_serializer(bytes)
    assert isinstance(serializer, BytesSerializer)
    raw = b"\x00\xff{not json"
    assert serializer.encode(raw) == raw
    assert serializer.decode(raw) == raw
    assert type(serializer.encode(bytearray(b"ab"))) is bytes


def test_datetime_is_iso_text_not_json_quoted() -> None:
    moment = datetime.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=datetime.UTC)
    serializer = get_serializer(datetime.datetime)
    assert isinstance(serializer, DatetimeSerializer)
    data = serializer.encode(moment)
    assert data == b"2024-05-06T07:08:09.123456+00:00"
    decoded = serializer.decode(data)
    assert decoded == moment
    assert decoded.tzinfo is not None


def test_naive_datetime_round_trip() -> None:
    moment = datetime.datetime(2024, 5, 6, 7, 8, 9)
    serializer = get_serializer(datetime.datetime)
    assert serializer.encode(moment) == b"2024-05-06T07:08:09"
    assert serializer.decode(b"2024-05-06T07:08:09") == moment


def test_date_is_iso_text() -> None:
    serializer = get_serializer(datetime.date)
    assert serializer.encode(datetime.date(2024, 2, 29)) == b"2024-02-29"
    decoded = serializer.decode(b"2024-02-29")
    assert decoded == datetime.date(2024, 2, 29)
    assert type(decoded) is datetime.date


def test_dataclass_is_json_object_of_its_fields() -> None:
    serializer = get_serializer(User)
    assert isinstance(serializer, DataclassSerializer)
    user = User(1, "Ann", ["a"])
    data = serializer.encode(user)
    assert data == b'{"id":1,"name":"Ann","tags":["a"]}'
    assert data == walnats_json(dataclasses.asdict(user))
    assert serializer.decode(data) == user


def test_dataclass_decode_needs_an_object() -> None:
    with pytest.raises(ValueError, match="JSON object for User"):
        get_serializer(User).decode(b"[1,2]")


def test_pydantic_model_is_its_json() -> None:
    serializer = get_serializer(Order)
    assert isinstance(serializer, PydanticSerializer)
    order = Order(id=3, item="tea", amount=2.5)
    data = serializer.encode(order)
    assert data == order.model_dump_json().encode()
    assert json.loads(data) == {"id": 3, "item": "tea", "amount": 2.5}
    assert b" " not in data
    assert serializer.decode(data) == order


def test_pydantic_decode_validates() -> None:
    with pytest.raises(pydantic.ValidationError):
        get_serializer(Order).decode(b'{"id":"not a number","item":"x","amount":1}')


def test_custom_serializer_is_a_serializer() -> None:
    custom = Upper()
    assert isinstance(custom, Serializer)
    assert encode(custom, "abc", "payload") == b"ABC"
    assert decode(custom, str, b"ABC", "payload") == "abc"


def test_str_enum_round_trips_as_its_member() -> None:
    serializer = get_serializer(Color)
    data = encode(serializer, Color.RED, "payload")
    assert data == b'"red"'
    decoded = decode(serializer, Color, data, "payload")
    assert decoded is Color.RED


def test_int_enum_round_trips_as_its_member() -> None:
    serializer = get_serializer(Level)
    assert encode(serializer, Level.HIGH, "payload") == b"2"
    assert decode(serializer, Level, b"2", "payload") is Level.HIGH


def test_enum_decode_rejects_unknown_or_wrong_type_values() -> None:
    serializer = get_serializer(Color)
    with pytest.raises(SerializationError, match="not a valid Color"):
        decode(serializer, Color, b'"green"', "payload")
    with pytest.raises(SerializationError, match="must be str"):
        decode(serializer, Color, b"5", "payload")


class Sneaky:
    pass


@pytest.mark.parametrize("schema", [set, tuple, frozenset, Sneaky, object, complex, int | None])
def test_get_serializer_rejects_unsupported_types(schema: Any) -> None:
    with pytest.raises(TypeError, match="no default serializer") as info:
        get_serializer(schema)
    assert "serializer=" in str(info.value)


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (int, 1),
        (float, 1.5),
        (float, 2),
        (str, "x"),
        (bool, False),
        (list[int], [1]),
        (list[int], ["not checked: only the origin is"]),
        (dict, {}),
        (None, None),
        (type(None), None),
        (bytes, b"x"),
        (datetime.date, datetime.date(2024, 1, 1)),
        (datetime.datetime, datetime.datetime(2024, 1, 1)),
        (User, User(1, "a")),
        (Order, Order(id=1, item="a", amount=1)),
        (Color, Color.RED),
    ],
)
def test_check_instance_accepts(schema: Any, message: object) -> None:
    check_instance(schema, message, "payload")


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (int, True),
        (int, 1.0),
        (int, "1"),
        (float, True),
        (float, "1.5"),
        (str, b"x"),
        (bool, 1),
        (list[int], (1,)),
        (list, {1}),
        (dict, []),
        (None, 0),
        (None, ""),
        (type(None), False),
        (bytes, "x"),
        (datetime.date, datetime.datetime(2024, 1, 1)),
        (datetime.datetime, datetime.date(2024, 1, 1)),
        (User, {"id": 1, "name": "a"}),
        (Color, "red"),
    ],
)
def test_check_instance_rejects(schema: Any, message: object) -> None:
    with pytest.raises(PayloadTypeError, match=r"^payload must be "):
        check_instance(schema, message, "payload")


def test_check_instance_message_names_the_types() -> None:
    with pytest.raises(PayloadTypeError) as info:
        check_instance(int, "seven", "payload of event 'count'")
    assert str(info.value) == "payload of event 'count' must be int, got str: 'seven'"
    with pytest.raises(PayloadTypeError, match="must be None, got int"):
        check_instance(None, 0, "answer")


def test_encode_wraps_failures() -> None:
    with pytest.raises(SerializationError, match=r"cannot encode payload of event 'x': TypeError: .*set"):
        encode(get_serializer(list), [{1, 2}], "payload of event 'x'")


def test_encode_rejects_non_bytes_results() -> None:
    class Texty:
        def encode(self, message: str) -> str:
            return message

        def decode(self, data: bytes) -> str:
            return data.decode()

    with pytest.raises(SerializationError, match=r"Texty.encode\(\) returned str, not bytes"):
        encode(Texty(), "x", "payload")  # type: ignore[arg-type]


def test_encode_accepts_bytearray_and_returns_bytes() -> None:
    class Buffer:
        def encode(self, message: bytes) -> bytearray:
            return bytearray(message)

        def decode(self, data: bytes) -> bytes:
            return data

    data = encode(Buffer(), b"ab", "payload")  # type: ignore[arg-type]
    assert data == b"ab"
    assert type(data) is bytes


def test_decode_wraps_failures_with_size() -> None:
    with pytest.raises(SerializationError, match=r"cannot decode answer \(4 bytes\): JSONDecodeError"):
        decode(get_serializer(int), int, b"{oops"[:4], "answer")
    with pytest.raises(SerializationError, match=r"cannot decode payload .*ValueError"):
        decode(get_serializer(datetime.date), datetime.date, b"yesterday", "payload")


@pytest.mark.parametrize(
    ("schema", "data"),
    [
        (int, b'"abc"'),
        (int, b"true"),
        (int, b"1.5"),
        (str, b"1"),
        (bool, b"1"),
        (float, b'"1.5"'),
        (list, b"{}"),
        (dict, b"[]"),
        (None, b"0"),
    ],
)
def test_decode_type_checks_json(schema: Any, data: bytes) -> None:
    with pytest.raises(SerializationError, match="must be"):
        decode(get_serializer(schema), schema, data, "answer")


def test_decode_returns_checked_json() -> None:
    assert decode(get_serializer(float), float, b"2", "answer") == 2
    assert decode(get_serializer(None), None, b"null", "answer") is None
    assert decode(get_serializer(dict), dict, b'{"a":[1]}', "answer") == {"a": [1]}


def test_decode_does_not_type_check_custom_serializers() -> None:
    # A custom serializer owns its types: str schema, but it returns what it likes.
    class Number:
        def encode(self, message: int) -> bytes:
            return str(message).encode()

        def decode(self, data: bytes) -> int:
            return int(data)

    assert decode(Number(), str, b"12", "payload") == 12


@pytest.mark.parametrize("value", [0, 7, -3, 2**70, -(2**70), True, False, 1.5, "x", None, [1, 2], {"a": 1}])
def test_json_bytes_match_json_dumps(value: object) -> None:
    # walnats 1.2.6 peers decode with json.loads: the fast paths must not change a byte.
    assert JSONSerializer(object).encode(value) == json.dumps(value, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    "data",
    [
        b'"caf\\u00e9"',  # escaped, as json.dumps sends it
        '"café"'.encode(),  # raw UTF-8
        b'\xef\xbb\xbf"bom"',  # UTF-8 with a BOM
        '"utf16"'.encode("utf-16"),  # json.loads detects UTF-16/32 too
        b' \n {"a": [1, 2.5, null]} \n',
    ],
)
def test_json_decoding_accepts_what_json_loads_accepts(data: bytes) -> None:
    assert JSONSerializer(object).decode(data) == json.loads(data)


@pytest.mark.parametrize("data", [b"", b"{", b'"\xff"', b"nan!"])
def test_json_decoding_fails_like_json_loads(data: bytes) -> None:
    try:
        json.loads(data)
    except ValueError as exc:
        expected = exc
    with pytest.raises(type(expected), match=str(expected).split(":")[0]):
        JSONSerializer(object).decode(data)
