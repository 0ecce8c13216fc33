"""Events with payload and answer types of every kind the AsyncAPI document describes.

Each event comes with a sample payload (and answer): the tests encode it with the event's real
serializer and check the bytes against the schema the document gives.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
from collections.abc import Iterator
from typing import Annotated, Any, Literal, NewType

import pydantic

from walnats_django import Actor, Event, Limits
from walnats_django.registry import Registry

UserId = NewType("UserId", int)


class Color(enum.StrEnum):
    RED = "red"
    GREEN = "green"


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclasses.dataclass(frozen=True)
class Address:
    """Where a parcel goes."""

    street: str
    city: str
    zip: str | None = None


@dataclasses.dataclass(frozen=True)
class Order:
    """An order <script>alert("x")</script> with nested parts."""

    id: UserId
    address: Address
    lines: list[Address]
    tags: dict[str, int]
    color: Color
    priority: Priority
    kind: Literal["retail", "wholesale"]
    pair: tuple[int, str]
    many: tuple[float, ...]
    note: Annotated[str, "free text"] = ""
    extra: Any = None
    scores: dict[int, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Node:
    name: str
    children: list[Node]


class Cat(pydantic.BaseModel):
    kind: Literal["cat"] = "cat"
    lives: int


class Dog(pydantic.BaseModel):
    kind: Literal["dog"] = "dog"
    good: bool


class Shipment(pydantic.BaseModel):
    """A pydantic payload: datetimes, nested models, a tagged union and a tuple."""

    at: datetime.datetime
    pet: Annotated[Cat | Dog, pydantic.Field(discriminator="kind")]
    dims: tuple[int, int]
    weight: float | None = None


class Receipt(pydantic.BaseModel):
    ok: bool
    shipment: Shipment


class Csv:
    """A custom serializer that says what it sends."""

    content_type = "text/csv"

    def encode(self, message: list[str]) -> bytes:
        return ",".join(message).encode()

    def decode(self, data: bytes) -> list[str]:
        return data.decode().split(",")

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "description": "Comma-separated values."}


class Opaque:
    """A custom serializer that does not describe itself."""

    def encode(self, message: str) -> bytes:
        return message[::-1].encode()

    def decode(self, data: bytes) -> str:
        return data.decode()[::-1]


NOW = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC)
ORDER = Order(
    id=UserId(7),
    address=Address("Main St 1", "Bern"),
    lines=[Address("a", "b", zip="3000")],
    tags={"x": 1},
    color=Color.RED,
    priority=Priority.HIGH,
    kind="retail",
    pair=(1, "a"),
    many=(1.5, 2),
    scores={3: 0.5},
)
SHIPMENT = Shipment(at=NOW, pet=Dog(good=True), dims=(2, 3))


@dataclasses.dataclass(frozen=True)
class Kind:
    """An event with a sample payload, and a sample answer when it has one."""

    event: Event[Any, Any]
    payload: Any
    answer: Any = None


KINDS = [
    Kind(Event("kinds.text", str, description="A plain str."), "hello"),
    Kind(Event("kinds.number", float).with_response(int), 1.5, 2),
    Kind(Event("kinds.flag", bool).with_response(None), True, None),
    Kind(Event("kinds.list", list[int]).with_response(dict[str, float]), [1, 2], {"a": 1.0}),
    Kind(Event("kinds.color", Color).with_response(Priority), Color.GREEN, Priority.LOW),
    Kind(Event("kinds.blob", bytes).with_response(bytes), b"\x00\xff", b"ok"),
    Kind(Event("kinds.when", datetime.datetime).with_response(datetime.date), NOW, NOW.date()),
    Kind(
        Event(
            "kinds.order", Order, limits=Limits(age=3600, messages=10), replicas=3, storage="memory"
        ).with_response(Address),
        ORDER,
        Address("x", "y"),
    ),
    Kind(Event("kinds.tree", Node), Node("root", [Node("leaf", [])])),
    Kind(Event("kinds.ship", Shipment).with_response(Receipt), SHIPMENT, Receipt(ok=True, shipment=SHIPMENT)),
    Kind(Event("kinds.csv", list, serializer=Csv()), ["a", "b"]),
    Kind(Event("kinds.opaque", str, serializer=Opaque()), "abc"),
]


def _noop(message: Any) -> None:
    """Never runs: no worker hosts these actors."""


ACTORS = [
    Actor(
        "ship-it", KINDS[9].event, _noop, description="Ships <b>now</b>.", max_attempts=3, retry_delay=(1, 5)
    ),
    Actor("count-it", KINDS[9].event, _noop),
    Actor("store-order", KINDS[7].event, _noop, ack_wait=30, job_timeout=10),
    Actor("read-text", KINDS[0].event, _noop),
]


def registry_of_kinds() -> Registry:
    """A registry holding every kind and the actors above (not the project's registry)."""
    kinds = Registry()
    for kind in KINDS:
        kinds.add(kind.event)
    for actor in ACTORS:
        kinds.add(actor)
    return kinds


def samples() -> Iterator[tuple[str, str, Any, Any]]:
    """(event name, "payload" or "answer", serializer, sample) for every sample."""
    for kind in KINDS:
        yield kind.event.name, "payload", kind.event.payload_serializer, kind.payload
        if kind.event.has_response:
            yield kind.event.name, "answer", kind.event.answer_serializer, kind.answer
