"""`manage.py runactors` as a newcomer meets it: its own output, `-v`, `--burst` and clear exits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import nats
import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

import walnats_django
from tests.helpers import StartWorker
from tests.testapp.events import NOTE
from walnats_django import Actor, Event, NatsUnavailable
from walnats_django.deadletters import purge
from walnats_django.jetstream import ensure_consumer, ensure_stream
from walnats_django.testing import NatsServer, free_port
from walnats_django.worker import Worker

NO_LOGGING = {"DJANGO_SETTINGS_MODULE": "tests.settings_without_logging"}


def test_without_logging_config_it_prints_start_and_stop_lines(start_worker: StartWorker) -> None:
    worker = start_worker("--actor", "echo", "--burst", wait=False, extra_env=NO_LOGGING)
    assert worker.wait(30) == 0
    start = worker.wait_for_line("Worker started")
    assert "pid=" in start
    assert "server=nats://127.0.0.1:" in start
    assert "echo(test.echo)" in start
    worker.wait_for_line("Worker stopped handled=")


def test_verbosity_0_prints_nothing_when_all_is_well(start_worker: StartWorker) -> None:
    worker = start_worker("--actor", "echo", "--burst", "-v", "0", wait=False, extra_env=NO_LOGGING)
    assert worker.wait(30) == 0
    assert worker.log() == ""


async def test_verbosity_2_prints_every_job(start_worker: StartWorker, nats_server: NatsServer) -> None:
    first = start_worker("--actor", "note", "--burst", wait=False, extra_env=NO_LOGGING)
    assert await asyncio.to_thread(first.wait, 30) == 0  # streams and consumer exist now
    await walnats_django.emit(NOTE, "verbose", wait=True)
    worker = start_worker("--actor", "note", "--burst", "-v", "2", wait=False, extra_env=NO_LOGGING)
    assert await asyncio.to_thread(worker.wait, 30) == 0
    assert "DEBUG Job started actor=note" in worker.log()
    assert "DEBUG Job done actor=note" in worker.log()


def test_burst_exits_1_in_one_line_when_nats_is_unreachable(start_worker: StartWorker) -> None:
    port = free_port()
    url = {"NATS_URL": f"nats://user:s3cret@127.0.0.1:{port}"}
    worker = start_worker("--actor", "echo", "--burst", wait=False, extra_env={**NO_LOGGING, **url})
    assert worker.wait(15) == 1
    log = worker.log()
    assert f"CommandError: cannot connect to NATS at nats://***@127.0.0.1:{port}" in log
    assert "is nats-server running there?" in log
    assert "s3cret" not in log
    assert "Traceback" not in log


def test_a_bad_server_url_is_refused_as_check_e012_refuses_it(start_worker: StartWorker) -> None:
    worker = start_worker("--burst", "--skip-checks", wait=False, extra_env={"NATS_URL": "http://nats:4222"})
    assert worker.wait(15) == 1
    assert "CommandError: NATS server URL 'http://nats:4222' is not a nats://" in worker.log()


async def test_waiting_for_nats_is_one_line_per_attempt_with_the_hint(
    start_worker: StartWorker,
) -> None:
    port = free_port()
    worker = start_worker(
        "--actor", "echo", wait=False, extra_env={**NO_LOGGING, "NATS_URL": f"nats://127.0.0.1:{port}"}
    )
    try:
        first = await asyncio.to_thread(worker.wait_for_line, "Waiting for NATS")
        await asyncio.to_thread(worker.wait_for_line, "Waiting for NATS", 10, worker.mark())
    finally:
        worker.stop()
    assert "is nats-server running there?" in first
    assert "Retrying in" in first
    assert [line for line in worker.lines if "NATS error" in line] == []


def _always_fails(calls: list[str]) -> Callable[[str], Awaitable[None]]:
    async def handler(text: str) -> None:
        calls.append(text)
        raise ValueError("always")

    return handler


@pytest.fixture
async def retrying_actor(nats_server: NatsServer) -> AsyncIterator[tuple[Actor[str, None], list[str]]]:
    """An actor that always fails: two attempts 0.3 s apart, then a dead letter."""
    calls: list[str] = []
    actor = Actor(
        "burst-retry", Event("burst.retry", str), _always_fails(calls), max_attempts=2, retry_delay=(0.3,)
    )
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await ensure_stream(js, actor.event)
    await ensure_consumer(js, actor)
    yield actor, calls
    await purge(js, event=actor.event.name)
    await js.delete_stream(actor.event.stream_name)
    await nc.close()


async def test_burst_stays_while_a_failed_message_waits_for_its_retry(
    retrying_actor: tuple[Actor[str, None], list[str]], nats_server: NatsServer
) -> None:
    actor, calls = retrying_actor
    await walnats_django.emit(actor.event, "twice", wait=True)
    worker = Worker([actor], burst=True)
    await asyncio.wait_for(worker.run(), 15)
    assert calls == ["twice", "twice"], "one burst run reaches the last attempt"
    assert worker.stats.dead == 1
    nc = await nats.connect(nats_server.url)
    info = await nc.jetstream().consumer_info(actor.event.stream_name, actor.name)
    await nc.close()
    assert (info.num_pending, info.num_ack_pending) == (0, 0)


async def test_burst_raises_nats_unavailable_within_connect_timeout(settings: SettingsWrapper) -> None:
    settings.WALNATS = {"SERVERS": [f"nats://127.0.0.1:{free_port()}"], "CONNECT_TIMEOUT": 0.5}
    worker = Worker([Actor("burst-nowhere", Event("burst.nowhere", str), _always_fails([]))], burst=True)
    with pytest.raises(NatsUnavailable, match="is nats-server running there"):
        await asyncio.wait_for(worker.run(), 5)
