"""Credentials against nats-servers that want them (token, user:password), and secrets kept out
of errors, logs and the admin page.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client, override_settings
from pytest_django.fixtures import Settings as SettingsWrapper

import walnats_django
from tests.helpers import StartWorker, WorkerProcess
from tests.testapp.fault_events import FB_AUTH
from walnats_django import NatsUnavailable
from walnats_django.client import close_connection
from walnats_django.sync import run_sync
from walnats_django.testing import NatsServer

TOKEN = f"tok-{uuid.uuid4().hex}"
USER, PASSWORD = "fb-user", f"pw-{uuid.uuid4().hex}"
URL = "/admin/walnats_django/registeredevent/"


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    folder = tmp_path_factory.mktemp("token-server")
    with NatsServer(store_dir=folder / "store", extra_args=("--auth", TOKEN)) as server:
        yield server


@pytest.fixture(scope="module")
def password_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    folder = tmp_path_factory.mktemp("password-server")
    with NatsServer(store_dir=folder / "store", extra_args=("--user", USER, "--pass", PASSWORD)) as server:
        yield server


@pytest.fixture(scope="module")
def token_worker(token_server: NatsServer, start_worker: StartWorker) -> Iterator[WorkerProcess]:
    """A worker that gets its token from NATS_TOKEN only."""
    worker = start_worker("--actor", "fb-auth", extra_env={"NATS_URL": token_server.url, "NATS_TOKEN": TOKEN})
    yield worker
    worker.stop()


@pytest.fixture(autouse=True)
def _no_token_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NATS_TOKEN", raising=False)


async def _request_with(walnats: dict[str, Any], text: str) -> str:
    with override_settings(WALNATS=walnats):
        await close_connection()
        try:
            return await walnats_django.request(FB_AUTH, text, timeout=5)
        finally:
            await close_connection()


async def test_token_from_env_for_the_worker_and_connect_options_for_the_requester(
    token_server: NatsServer, token_worker: WorkerProcess
) -> None:
    answer = await _request_with({"SERVERS": [token_server.url], "CONNECT_OPTIONS": {"token": TOKEN}}, "hi")
    assert answer == "hi"
    assert TOKEN not in token_worker.log()


async def test_token_from_env_for_the_requester(
    token_server: NatsServer, token_worker: WorkerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NATS_TOKEN", TOKEN)
    assert await _request_with({"SERVERS": [token_server.url]}, "env") == "env"


async def test_token_in_the_url(token_server: NatsServer, token_worker: WorkerProcess) -> None:
    url = f"nats://{TOKEN}@127.0.0.1:{token_server.port}"
    assert await _request_with({"SERVERS": [url]}, "url") == "url"


@pytest.mark.parametrize(
    "walnats",
    [
        {},
        {"CONNECT_OPTIONS": {"token": "wrong-secret-123"}},
        {"url": "nats://wrong-secret-123@127.0.0.1:{port}"},
    ],
    ids=["no-token", "wrong-token", "wrong-token-in-url"],
)
async def test_missing_or_wrong_token_is_nats_unavailable_fast_and_clear(
    token_server: NatsServer, walnats: dict[str, Any]
) -> None:
    settings = {"SERVERS": [walnats.pop("url", token_server.url).format(port=token_server.port)], **walnats}
    started = time.monotonic()
    with pytest.raises(NatsUnavailable) as info:
        await _request_with(settings, "x")
    elapsed = time.monotonic() - started
    message = str(info.value)
    assert "cannot connect to NATS" in message
    assert "authorization" in message.lower()
    assert "wrong-secret-123" not in message
    assert TOKEN not in message
    assert elapsed < 2.5, "within CONNECT_TIMEOUT, not a hang"
    print(f"\n[auth] {elapsed * 1000:.0f} ms: {message}")


def test_worker_without_token_says_why_it_waits_and_stops_cleanly(
    token_server: NatsServer, start_worker: StartWorker
) -> None:
    worker = start_worker(
        "--actor", "fb-auth", wait=False, extra_env={"NATS_URL": token_server.url, "NATS_TOKEN": ""}
    )
    line = worker.wait_for_line("Waiting for NATS")
    assert "authorization" in line.lower()
    worker.signal(signal.SIGTERM)
    assert worker.wait(15) == 0
    assert "Worker started" not in worker.log()


async def test_user_and_password_in_nats_url(password_server: NatsServer, start_worker: StartWorker) -> None:
    url = f"nats://{USER}:{PASSWORD}@127.0.0.1:{password_server.port}"
    worker = start_worker("--actor", "fb-auth", extra_env={"NATS_URL": url})
    assert await _request_with({"SERVERS": [url]}, "pw") == "pw"
    assert PASSWORD not in worker.log()
    wrong = f"nats://{USER}:wrong-pw-456@127.0.0.1:{password_server.port}"
    with pytest.raises(NatsUnavailable) as info:
        await _request_with({"SERVERS": [wrong]}, "x")
    assert "wrong-pw-456" not in str(info.value)
    assert USER not in str(info.value)
    worker.signal(signal.SIGTERM)
    assert await asyncio.to_thread(worker.wait, 15) == 0


@pytest.fixture
def fresh_sync_connection() -> Iterator[None]:
    """The admin uses the shared sync-side connection: make it follow this test's settings."""
    run_sync(close_connection())
    yield
    run_sync(close_connection())


@pytest.mark.django_db
@pytest.mark.usefixtures("token_worker", "fresh_sync_connection")
@pytest.mark.parametrize("how", ["connect-options", "url", "env"])
def test_admin_page_is_live_and_never_shows_the_token(
    admin_client: Client,
    settings: SettingsWrapper,
    token_server: NatsServer,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    if how == "connect-options":
        settings.WALNATS = {"SERVERS": [token_server.url], "CONNECT_OPTIONS": {"token": TOKEN}}
    elif how == "url":
        settings.WALNATS = {"SERVERS": [f"nats://{TOKEN}@127.0.0.1:{token_server.port}"]}
    else:
        monkeypatch.setenv("NATS_TOKEN", TOKEN)
        settings.WALNATS = {"SERVERS": [token_server.url]}
    response = admin_client.get(URL)
    assert response.status_code == 200
    content = response.content.decode()
    assert "Live numbers from NATS" in content
    assert 'data-actor="fb-auth"' in content
    assert TOKEN not in content
    assert TOKEN[4:20] not in content


@pytest.mark.django_db
@pytest.mark.usefixtures("fresh_sync_connection")
@pytest.mark.parametrize("how", ["connect-options", "url"])
def test_admin_page_with_a_wrong_token_says_unreachable_without_the_token(
    admin_client: Client, settings: SettingsWrapper, token_server: NatsServer, how: str
) -> None:
    wrong = f"wrong-{uuid.uuid4().hex}"
    if how == "connect-options":
        settings.WALNATS = {"SERVERS": [token_server.url], "CONNECT_OPTIONS": {"token": wrong}}
    else:
        settings.WALNATS = {"SERVERS": [f"nats://{wrong}@127.0.0.1:{token_server.port}"]}
    content = admin_client.get(URL).content.decode()
    assert "NATS is unreachable" in content
    assert wrong not in content
    assert wrong[6:20] not in content


@pytest.mark.django_db
@pytest.mark.usefixtures("fresh_sync_connection")
def test_admin_page_never_shows_the_password(
    admin_client: Client, settings: SettingsWrapper, password_server: NatsServer
) -> None:
    settings.WALNATS = {"SERVERS": [f"nats://{USER}:{PASSWORD}@127.0.0.1:{password_server.port}"]}
    content = admin_client.get(URL).content.decode()
    assert "Live numbers from NATS" in content
    assert PASSWORD not in content
    assert f"nats://***@127.0.0.1:{password_server.port}" in content
