"""inline(): never touches NATS; context manager, decorator and nesting; process-wide routing."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from django.test import override_settings

import walnats_django
from tests.test_inline_support import (
    ECHO,
    NOTE,
    REGISTRY,
    SHOUT,
    _forget_calls,  # noqa: F401 - the autouse fixture
    ran,
)
from walnats_django import NatsUnavailable, publisher
from walnats_django.client import loops
from walnats_django.testing import InlineBus, InlineModeError, inline


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP port that accepts connections and never speaks NATS: any connection attempt to it
    shows up in `accept()`."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.setblocking(False)
        port = sock.getsockname()[1]
        url = f"nats://127.0.0.1:{port}"
        with override_settings(WALNATS={"SERVERS": [url], "CONNECT_TIMEOUT": 0.3, "REQUEST_TIMEOUT": 0.5}):
            yield sock


def attempted(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


def test_inline_never_connects_to_nats_from_sync_code(listener: socket.socket) -> None:
    started = time.monotonic()
    with inline(registry=REGISTRY):
        walnats_django.emit_sync(NOTE, "a", wait=True)
        assert walnats_django.request_sync(SHOUT, "b") == "B"
    with inline(registry=REGISTRY, run=False, answers={SHOUT: "stub"}):
        walnats_django.emit_sync(NOTE, "c")
        assert walnats_django.request_sync(SHOUT, "d") == "stub"
    assert time.monotonic() - started < 0.3, "no connect attempt waited for its timeout"
    assert not attempted(listener)


async def test_inline_never_connects_to_nats_from_async_code(listener: socket.socket) -> None:
    with inline(registry=REGISTRY):
        await walnats_django.emit(NOTE, "a", wait=True)
        assert await walnats_django.request(ECHO, "b") == "b"
    with inline(registry=REGISTRY, run=False, answers={ECHO: "stub"}):
        await walnats_django.emit(NOTE, "c")
        assert await walnats_django.request(ECHO, "d") == "stub"
    assert asyncio.get_running_loop() not in loops._slots, "get_connection() was never called"
    assert not attempted(listener)
    # The control: once the block ended, the same call goes to NATS (the port above) again.
    with pytest.raises(NatsUnavailable):
        await walnats_django.request(ECHO, "b")
    assert attempted(listener)


def test_the_route_is_restored_when_the_block_fails() -> None:
    def fails() -> None:
        with inline(registry=REGISTRY):
            assert publisher._route is not None
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        fails()
    assert publisher._route is None


def test_nested_blocks_stack_and_the_innermost_bus_takes_the_calls() -> None:
    with inline(registry=REGISTRY) as outer:
        walnats_django.emit_sync(NOTE, "1")
        with inline(registry=REGISTRY, run=False) as inner:
            assert inline.current() is inner
            walnats_django.emit_sync(NOTE, "2")
        assert inline.current() is outer
        walnats_django.emit_sync(NOTE, "3")
    assert [m.payload for m in outer.emitted(NOTE)] == ["1", "3"]
    assert [m.payload for m in inner.emitted(NOTE)] == ["2"]
    assert ran("note-sync") == ["1", "3"], "the inner bus only records"
    assert publisher._route is None


def test_buses_may_end_out_of_order() -> None:
    first, second = inline(registry=REGISTRY), inline(registry=REGISTRY)
    a = first.start()
    b = second.start()
    first.stop(a)
    assert inline.current() is b
    second.stop(b)
    assert publisher._route is None


def test_one_inline_object_may_be_entered_again_inside_itself() -> None:
    mode = inline(registry=REGISTRY)
    with mode as outer, mode as inner:
        assert inner is not outer
        assert inline.current() is inner
    assert publisher._route is None


def test_current_outside_any_block_says_how_to_get_a_bus() -> None:
    with pytest.raises(InlineModeError, match=r"no inline\(\) bus is active; use `with inline\(\) as bus:`"):
        inline.current()


def test_calls_from_other_threads_reach_the_bus_too() -> None:
    """Process-wide, like a patched broker: a thread the code under test starts is no way out."""
    with inline(registry=REGISTRY) as bus:
        thread = threading.Thread(target=walnats_django.emit_sync, args=(NOTE, "from a thread"))
        thread.start()
        thread.join()
    bus.assert_emitted(NOTE, times=1, where=lambda text: text == "from a thread")


# -- the decorator ---------------------------------------------------------------------------------


def test_the_decorator_gives_each_call_a_fresh_bus() -> None:
    @inline(registry=REGISTRY)
    def body(text: str) -> InlineBus:
        walnats_django.emit_sync(NOTE, text)
        return inline.current()

    first, second = body("one"), body("two")
    assert first is not second
    assert [m.payload for m in first.messages] == ["one"]
    assert [m.payload for m in second.messages] == ["two"]
    assert publisher._route is None


async def test_the_decorator_wraps_async_functions() -> None:
    @inline(registry=REGISTRY)
    async def body() -> InlineBus:
        assert await walnats_django.request(SHOUT, "x") == "X"
        return inline.current()

    bus = await body()
    bus.assert_emitted(SHOUT, times=1)
    assert publisher._route is None


@inline(registry=REGISTRY)
def test_decorated_sync_test() -> None:
    walnats_django.emit_sync(NOTE, "decorated")
    inline.current().assert_emitted(NOTE, where=lambda text: text == "decorated")


@inline(registry=REGISTRY)
async def test_decorated_async_test() -> None:
    assert await walnats_django.request(ECHO, "decorated") == "decorated"
    inline.current().assert_emitted(ECHO, times=1)


def test_the_decorator_refuses_classes_and_points_at_the_mixin() -> None:
    with pytest.raises(TypeError, match="InlineTestMixin"):
        inline()(type("Tests", (), {}))
