"""Registry: add, the actor decorator, look-ups, isolation and the problems checks report."""

from __future__ import annotations

import pytest

from walnats_django import Actor, Event, Registry, registry
from walnats_django.registry import Problem

COUNT = Event("count-words", str).with_response(int)
NOTE = Event("note", str)


def count(text: str) -> int:
    return len(text.split())


def other_count(text: str) -> int:
    return 0


@pytest.fixture
def reg() -> Registry:
    return Registry()


def ids(reg: Registry) -> list[str]:
    return [p.id for p in reg.problems()]


def test_add_returns_the_item_and_keeps_order(reg: Registry) -> None:
    assert reg.add(COUNT) is COUNT
    assert reg.add(NOTE) is NOTE
    actor = Actor("count", COUNT, count)
    assert reg.add(actor) is actor
    assert reg.events == (COUNT, NOTE)
    assert reg.actors == (actor,)


def test_add_ignores_an_equal_item(reg: Registry) -> None:
    reg.add(Event("note", str))
    reg.add(Event("note", str))
    reg.add(Actor("a", NOTE, count))
    reg.add(Actor("a", NOTE, count))
    assert len(reg.events) == 1
    assert len(reg.actors) == 1


def test_add_keeps_conflicts_for_the_checks(reg: Registry) -> None:
    reg.add(Event("note", str))
    reg.add(Event("note", int))
    assert len(reg.events) == 2


def test_add_rejects_other_things(reg: Registry) -> None:
    with pytest.raises(TypeError, match=r"registry.add\(\) takes an Event or an Actor, got str"):
        reg.add("note")  # type: ignore[call-overload]


def test_events_and_actors_are_read_only_snapshots(reg: Registry) -> None:
    reg.add(NOTE)
    events = reg.events
    reg.add(COUNT)
    assert events == (NOTE,)
    assert isinstance(reg.actors, tuple)


def test_actor_decorator_registers_and_returns_the_handler(reg: Registry) -> None:
    @reg.actor("count", COUNT, max_jobs=3, retry_delay=(1,))
    def handler(text: str) -> int:
        return 1

    assert handler("x") == 1
    (actor,) = reg.actors
    assert actor.name == "count"
    assert actor.event is COUNT
    assert actor.handler is handler
    assert actor.max_jobs == 3
    assert actor.retry_delay == (1,)


def test_actor_decorator_validates_options(reg: Registry) -> None:
    with pytest.raises(ValueError, match="max_jobs must be a positive number"):
        reg.actor("count", COUNT, max_jobs=0)(count)
    assert reg.actors == ()


def test_remove(reg: Registry) -> None:
    actor = reg.add(Actor("a", NOTE, count))
    reg.add(NOTE)
    reg.remove(actor)
    reg.remove(NOTE)
    assert reg.events == ()
    assert reg.actors == ()
    with pytest.raises(ValueError, match="not in list"):
        reg.remove(NOTE)


def test_get_event(reg: Registry) -> None:
    reg.add(NOTE)
    reg.add(COUNT)
    assert reg.get_event("count-words") is COUNT
    expected = r"no event named 'nope' is registered \(registered: note, count-words\)"
    with pytest.raises(LookupError, match=expected):
        reg.get_event("nope")


def test_get_event_in_an_empty_registry(reg: Registry) -> None:
    with pytest.raises(LookupError, match=r"\(registered: none\)"):
        reg.get_event("note")


def test_actors_for_matches_by_event_name(reg: Registry) -> None:
    a = reg.add(Actor("a", COUNT, count))
    b = reg.add(Actor("b", Event("count-words", str), count))
    reg.add(Actor("c", NOTE, count))
    assert reg.actors_for(COUNT) == (a, b)
    assert reg.actors_for(Event("other", str)) == ()


@pytest.fixture
def three(reg: Registry) -> tuple[Registry, list[Actor[str, int]]]:
    actors = [reg.add(Actor(name, COUNT, count)) for name in ("a", "b", "c")]
    return reg, actors


def test_select_actors_all_when_empty(three: tuple[Registry, list[Actor[str, int]]]) -> None:
    reg, actors = three
    assert reg.select_actors(None) == tuple(actors)
    assert reg.select_actors([]) == tuple(actors)


def test_select_actors_by_name_in_given_order_without_duplicates(
    three: tuple[Registry, list[Actor[str, int]]],
) -> None:
    reg, (a, _b, c) = three
    assert reg.select_actors(["c", "a", "c"]) == (c, a)


def test_select_actors_unknown_names(three: tuple[Registry, list[Actor[str, int]]]) -> None:
    reg, _ = three
    with pytest.raises(LookupError, match=r"unknown actor\(s\): x, y \(registered: a, b, c\)"):
        reg.select_actors(["a", "x", "y"])
    with pytest.raises(LookupError, match=r"\(registered: none\)"):
        Registry().select_actors(["x"])


def test_isolated_starts_empty_and_restores(reg: Registry) -> None:
    reg.add(NOTE)
    actor = reg.add(Actor("a", NOTE, count))
    with reg.isolated() as inner:
        assert inner is reg
        assert reg.events == ()
        assert reg.actors == ()
        reg.add(COUNT)
        assert reg.events == (COUNT,)
    assert reg.events == (NOTE,)
    assert reg.actors == (actor,)


def test_isolated_restores_after_an_error(reg: Registry) -> None:
    reg.add(NOTE)

    def fill_and_fail() -> None:
        with reg.isolated():
            reg.add(COUNT)
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fill_and_fail()
    assert reg.events == (NOTE,)


def test_global_registry_holds_the_discovered_declarations() -> None:
    names = {e.name for e in registry.events}
    assert {"test.echo", "test.note"} <= names
    assert registry.problems() == []


def test_no_problems_for_a_good_registry(reg: Registry) -> None:
    reg.add(COUNT)
    reg.add(NOTE)
    reg.add(Actor("count", COUNT, count))
    reg.add(Actor("count", NOTE, count))  # the same name on another event is another consumer
    assert reg.problems() == []


def test_e001_event_registered_twice_with_different_definitions(reg: Registry) -> None:
    reg.add(Event("note", str))
    second = reg.add(Event("note", int))
    (problem,) = reg.problems()
    assert problem.id == "walnats_django.E001"
    assert problem.obj is second
    assert "'note' is registered twice" in problem.msg
    assert problem.hint


def test_e002_two_actors_with_one_name_on_one_event(reg: Registry) -> None:
    reg.add(COUNT)
    reg.add(Actor("count", COUNT, count))
    second = reg.add(Actor("count", COUNT, other_count))
    (problem,) = reg.problems()
    assert problem == Problem(
        "walnats_django.E002",
        "Two actors named 'count' handle event 'count-words'.",
        "Give each actor of an event its own name.",
        second,
    )


def test_e003_actor_of_an_unregistered_event(reg: Registry) -> None:
    actor = reg.add(Actor("count", COUNT, count))
    (problem,) = reg.problems()
    assert problem.id == "walnats_django.E003"
    assert problem.obj is actor
    assert "'count-words', which is not registered" in problem.msg


@pytest.mark.parametrize("name", ["bad name", "orders.*", "_INBOX.x", ""])
def test_e004_bad_event_name(reg: Registry, name: str) -> None:
    event = reg.add(Event(name, str))
    (problem,) = reg.problems()
    assert problem.id == "walnats_django.E004"
    assert problem.obj is event
    assert "subject" in problem.hint


@pytest.mark.parametrize("name", ["send.email", "send email", "x" * 256])
def test_e004_bad_actor_name(reg: Registry, name: str) -> None:
    reg.add(NOTE)
    actor = reg.add(Actor(name, NOTE, count))
    (problem,) = reg.problems()
    assert problem.id == "walnats_django.E004"
    assert problem.obj is actor
    assert "durable consumer" in problem.hint


def test_e005_events_sharing_a_stream(reg: Registry) -> None:
    reg.add(Event("orders.created", str))
    second = reg.add(Event("orders-created", str))
    (problem,) = reg.problems()
    assert problem.id == "walnats_django.E005"
    assert problem.obj is second
    assert "share the stream 'orders-created'" in problem.msg


def test_e006_actor_with_another_definition_of_the_event(reg: Registry) -> None:
    reg.add(COUNT)
    actor = reg.add(Actor("count", Event("count-words", str), count))
    (problem,) = reg.problems()
    assert problem.id == "walnats_django.E006"
    assert problem.obj is actor
    assert ".with_response()" in problem.hint


def test_all_problems_are_reported_at_once(reg: Registry) -> None:
    reg.add(Event("a", str))
    reg.add(Event("a", int))
    reg.add(Event("bad name", str))
    reg.add(Actor("x", Event("missing", str), count))
    reg.add(Actor("bad.actor", Event("a", str), count))
    assert ids(reg) == [
        "walnats_django.E001",
        "walnats_django.E004",
        "walnats_django.E003",
        "walnats_django.E004",
    ]
