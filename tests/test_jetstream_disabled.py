"""A nats-server started without `-js`: every entry point says "start it with -js", at once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

import walnats_django
from tests.helpers import StartWorker
from tests.testapp.events import ECHO, NOTE
from walnats_django import JetStreamDisabled
from walnats_django.client import close_connection
from walnats_django.sync import run_sync
from walnats_django.testing import NatsServer

HINT = "runs without JetStream; start it with `nats-server -js`"


@pytest.fixture(scope="module")
def plain_server() -> Iterator[NatsServer]:
    """A core NATS server without JetStream, as a newcomer may start it."""
    with NatsServer(jetstream=False) as server:
        yield server


@pytest.fixture
def on_plain_server(plain_server: NatsServer, settings: SettingsWrapper) -> Iterator[NatsServer]:
    settings.WALNATS = {"SERVERS": [plain_server.url], "REQUEST_TIMEOUT": 2.0}
    yield plain_server
    run_sync(close_connection())


def test_runactors_exits_1_with_one_line(start_worker: StartWorker, plain_server: NatsServer) -> None:
    worker = start_worker("--actor", "echo", wait=False, extra_env={"NATS_URL": plain_server.url})
    assert worker.wait(15) == 1
    log = worker.log()
    assert f"CommandError: the NATS server at {plain_server.url} {HINT}" in log
    assert "Traceback" not in log


async def test_request_and_emit_raise_jetstream_disabled(on_plain_server: NatsServer) -> None:
    for call in (
        walnats_django.request(ECHO, "x"),
        walnats_django.emit(NOTE, "x"),
        walnats_django.emit(NOTE, "x", wait=True),
    ):
        with pytest.raises(JetStreamDisabled, match=HINT):
            await asyncio.wait_for(call, 1.0)  # known at once: never the request timeout


def test_sync_twins_raise_jetstream_disabled(on_plain_server: NatsServer) -> None:
    with pytest.raises(JetStreamDisabled, match=HINT):
        walnats_django.request_sync(ECHO, "x")
    with pytest.raises(JetStreamDisabled, match=HINT):
        walnats_django.emit_sync(NOTE, "x")


def test_deadletters_command_says_so(on_plain_server: NatsServer) -> None:
    with pytest.raises(CommandError, match=HINT):
        call_command("deadletters", "list")


@pytest.mark.django_db
def test_admin_page_says_so(on_plain_server: NatsServer, admin_client: Client) -> None:
    response = admin_client.get("/admin/walnats_django/registeredevent/")
    assert response.status_code == 200
    assert "runs without JetStream" in response.content.decode()
