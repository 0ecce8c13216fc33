"""The registry of events and actors, filled by apps' `events.py` and `actors.py`."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar, overload

from .actors import Actor
from .events import Event
from .names import actor_name_problem, event_name_problem

T = TypeVar("T")
R = TypeVar("R")


@dataclasses.dataclass(frozen=True)
class Problem:
    """A registry problem found by `Registry.problems()`, reported as a system check."""

    id: str
    msg: str
    hint: str
    obj: object


class Registry:
    """Holds every declared event and actor; problems are reported by `manage.py check`.

    Adding never raises for conflicts so that `check` can report all of them at once.
    """

    def __init__(self) -> None:
        self._events: list[Event[Any, Any]] = []
        self._actors: list[Actor[Any, Any]] = []

    @overload
    def add(self, item: Event[T, R]) -> Event[T, R]: ...
    @overload
    def add(self, item: Actor[T, R]) -> Actor[T, R]: ...
    def add(self, item: Event[Any, Any] | Actor[Any, Any]) -> Event[Any, Any] | Actor[Any, Any]:
        """Register an event or actor and return it, so it can be assigned in one line."""
        if isinstance(item, Event):
            if item not in self._events:
                self._events.append(item)
        elif isinstance(item, Actor):
            if item not in self._actors:
                self._actors.append(item)
        else:
            raise TypeError(f"registry.add() takes an Event or an Actor, got {type(item).__name__}.")
        return item

    def actor(
        self, name: str, event: Event[T, R], **options: Any
    ) -> Callable[[Callable[[T], Any]], Callable[[T], Any]]:
        """Decorator form of `add(Actor(name, event, handler, **options))`."""

        def decorate(handler: Callable[[T], Any]) -> Callable[[T], Any]:
            self.add(Actor(name, event, handler, **options))
            return handler

        return decorate

    def remove(self, item: Event[Any, Any] | Actor[Any, Any]) -> None:
        """Forget an event or actor (used by tests and dynamic setups)."""
        if isinstance(item, Event):
            self._events.remove(item)
        else:
            self._actors.remove(item)

    @property
    def events(self) -> tuple[Event[Any, Any], ...]:
        """Registered events in registration order."""
        return tuple(self._events)

    @property
    def actors(self) -> tuple[Actor[Any, Any], ...]:
        """Registered actors in registration order."""
        return tuple(self._actors)

    def get_event(self, name: str) -> Event[Any, Any]:
        """The registered event named `name`; `LookupError` names the known ones."""
        for event in self._events:
            if event.name == name:
                return event
        known = ", ".join(e.name for e in self._events) or "none"
        raise LookupError(f"no event named {name!r} is registered (registered: {known}).")

    def actors_for(self, event: Event[Any, Any]) -> tuple[Actor[Any, Any], ...]:
        """Actors that handle `event` (matched by event name)."""
        return tuple(a for a in self._actors if a.event.name == event.name)

    def select_actors(self, names: Iterable[str] | None) -> tuple[Actor[Any, Any], ...]:
        """Actors with the given names (all when `names` is empty); `LookupError` on unknown."""
        wanted = list(names or [])
        if not wanted:
            return self.actors
        by_name = {a.name: a for a in self._actors}
        unknown = [n for n in wanted if n not in by_name]
        if unknown:
            known = ", ".join(sorted(by_name)) or "none"
            raise LookupError(f"unknown actor(s): {', '.join(unknown)} (registered: {known}).")
        return tuple(by_name[n] for n in dict.fromkeys(wanted))

    @contextlib.contextmanager
    def isolated(self) -> Iterator[Registry]:
        """Within the block, start from an empty registry; restore the old content after."""
        saved = self._events, self._actors
        self._events, self._actors = [], []
        try:
            yield self
        finally:
            self._events, self._actors = saved

    def problems(self) -> list[Problem]:
        """Everything wrong with the declarations, with stable check IDs."""
        found: list[Problem] = []
        by_name: dict[str, Event[Any, Any]] = {}
        by_stream: dict[str, Event[Any, Any]] = {}
        for event in self._events:
            problem = event_name_problem(event.name)
            if problem:
                found.append(
                    Problem(
                        "walnats_django.E004", problem, "Rename the event; names become NATS subjects.", event
                    )
                )
                continue
            if event.name in by_name:
                found.append(
                    Problem(
                        "walnats_django.E001",
                        f"Event name {event.name!r} is registered twice with different definitions.",
                        "Declare each event once, in one events.py, and import it elsewhere.",
                        event,
                    )
                )
                continue
            other = by_stream.get(event.stream_name)
            if other is not None:
                found.append(
                    Problem(
                        "walnats_django.E005",
                        f"Events {other.name!r} and {event.name!r} share the stream {event.stream_name!r}.",
                        "Rename one: '.' in an event name becomes '-' in its stream name.",
                        event,
                    )
                )
            by_name[event.name] = event
            by_stream[event.stream_name] = event
        seen: set[tuple[str, str]] = set()
        for actor in self._actors:
            problem = actor_name_problem(actor.name)
            if problem:
                found.append(
                    Problem(
                        "walnats_django.E004",
                        problem,
                        "Rename the actor; the name is its durable consumer.",
                        actor,
                    )
                )
                continue
            key = (actor.event.name, actor.name)
            if key in seen:
                found.append(
                    Problem(
                        "walnats_django.E002",
                        f"Two actors named {actor.name!r} handle event {actor.event.name!r}.",
                        "Give each actor of an event its own name.",
                        actor,
                    )
                )
                continue
            seen.add(key)
            registered = by_name.get(actor.event.name)
            if registered is None:
                found.append(
                    Problem(
                        "walnats_django.E003",
                        f"Actor {actor.name!r} handles event {actor.event.name!r}, which is not registered.",
                        "Add the event with registry.add(Event(...)) in an app's events.py.",
                        actor,
                    )
                )
            elif registered != actor.event:
                found.append(
                    Problem(
                        "walnats_django.E006",
                        f"Actor {actor.name!r} uses a different definition of event "
                        f"{actor.event.name!r} than the registered one.",
                        "Import the registered event object (the one made with .with_response()).",
                        actor,
                    )
                )
        return found


registry = Registry()
"""The project-wide registry that autodiscovery fills."""
