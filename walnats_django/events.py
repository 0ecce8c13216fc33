"""Events: a name plus a payload type, and the stream limits that go with it."""

from __future__ import annotations

import dataclasses
from functools import cached_property
from typing import Any, Generic, Literal, TypeVar

from .serializers import Serializer, get_serializer
from .validation import positive_number_problem

MAX_REPLICAS = 5
"""JetStream's limit on stream replicas."""
STORAGES = ("file", "memory")

T = TypeVar("T")
R = TypeVar("R")


@dataclasses.dataclass(frozen=True)
class Limits:
    """Stream limits; `None` means unlimited. Map to JetStream max_age/_consumers/_msgs/..."""

    age: float | None = None
    """Maximum age of a message in the stream, in seconds."""
    consumers: int | None = None
    """How many consumers (actors) the stream may have."""
    messages: int | None = None
    """How many messages the stream may hold."""
    bytes: int | None = None
    """How many bytes the stream may hold."""
    message_size: int | None = None
    """The largest message the stream accepts, in bytes."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            problem = positive_number_problem(
                getattr(self, field.name),
                integer=field.name != "age",
                none_ok=True,
                what=f"Limits.{field.name}",
            )
            if problem is not None:
                raise ValueError(problem)

    def evolve(self, **changes: float | None) -> Limits:
        """A copy with some limits changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True)
class Event(Generic[T, R]):
    """An event: `name` is its NATS subject, `schema` the payload type.

    Register it in an app's `events.py` with `registry.add(Event(...))`.
    """

    name: str
    schema: type[T] | Any
    serializer: Serializer[T] | None = dataclasses.field(default=None, kw_only=True)
    description: str | None = dataclasses.field(default=None, kw_only=True)
    limits: Limits = dataclasses.field(default_factory=Limits, kw_only=True)
    response_schema: type[R] | Any = dataclasses.field(default=None, kw_only=True)
    response_serializer: Serializer[R] | None = dataclasses.field(default=None, kw_only=True)
    has_response: bool = dataclasses.field(default=False, kw_only=True)
    replicas: int | None = dataclasses.field(default=None, kw_only=True)
    """Copies of the stream in a JetStream cluster, 1 to 5 (None: `WALNATS["REPLICAS"]`)."""
    storage: Literal["file", "memory"] | None = dataclasses.field(default=None, kw_only=True)
    """Where the stream keeps messages: "file" survives a restart, "memory" is faster and does not
    (None: "file" for a new stream, and whatever an existing stream has)."""

    def __post_init__(self) -> None:
        if self.serializer is None:
            get_serializer(self.schema)
        elif not isinstance(self.serializer, Serializer):
            raise TypeError(f"serializer of event {self.name!r} needs encode() and decode().")
        if self.has_response:
            if self.response_serializer is None:
                get_serializer(self.response_schema)
            elif not isinstance(self.response_serializer, Serializer):
                raise TypeError(f"response serializer of event {self.name!r} needs encode() and decode().")
        if not isinstance(self.limits, Limits):
            raise TypeError(f"limits of event {self.name!r} must be a Limits instance.")
        if self.replicas is not None:
            problem = positive_number_problem(
                self.replicas, integer=True, what=f"replicas of event {self.name!r}"
            )
            if problem is not None or self.replicas > MAX_REPLICAS:
                raise ValueError(
                    problem or f"replicas of event {self.name!r} must be at most {MAX_REPLICAS}."
                )
        if self.storage is not None and self.storage not in STORAGES:
            raise ValueError(
                f"storage of event {self.name!r} must be 'file' or 'memory', got {self.storage!r}."
            )
        if self.description is not None and len(self.description) > 4096:
            raise ValueError(f"description of event {self.name!r} is longer than 4096 characters.")

    def with_response(self, schema: type[R] | Any, serializer: Serializer[R] | None = None) -> Event[T, R]:
        """A copy of this event whose actors answer with a `schema` value, for `request()`."""
        return dataclasses.replace(
            self, response_schema=schema, response_serializer=serializer, has_response=True
        )

    def __str__(self) -> str:
        """How system checks and logs name it: `event 'count-words'` (not the dataclass repr)."""
        return f"event {self.name!r}"

    @property
    def subject(self) -> str:
        """The NATS subject events are published to."""
        return self.name

    @property
    def stream_name(self) -> str:
        """The JetStream stream holding this event (walnats: dots become dashes)."""
        return self.name.replace(".", "-")

    @cached_property
    def payload_serializer(self) -> Serializer[T]:
        """The serializer actually used for payloads."""
        return self.serializer or get_serializer(self.schema)

    @cached_property
    def answer_serializer(self) -> Serializer[R]:
        """The serializer actually used for answers."""
        return self.response_serializer or get_serializer(self.response_schema)
