"""The example project's views over Django's async test client, against a real worker."""

from __future__ import annotations

import pytest
from django.test import AsyncClient, Client, override_settings

from project.example.views import status_for
from tests.conftest import WorkerProcess
from walnats_django import (
    EventNotRegistered,
    NatsUnavailable,
    NoActors,
    PayloadTooLarge,
    RemoteError,
    RequestTimeout,
)
from walnats_django.testing import free_port

pytestmark = pytest.mark.usefixtures("worker")


async def test_count_words_answers_with_the_actor_result() -> None:
    response = await AsyncClient().post(
        "/count-words", {"text": "some random text"}, content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json() == {"count": 3}


def test_count_words_sync_view_uses_request_sync() -> None:
    response = Client().post("/count-words-sync", {"text": "one two"}, content_type="application/json")
    assert response.status_code == 200
    assert response.json() == {"count": 2}


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"text": 3}', b"{}"])
async def test_bad_input_is_400(body: bytes) -> None:
    response = await AsyncClient().post("/count-words", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "BadInput"


async def test_get_is_405() -> None:
    response = await AsyncClient().get("/count-words")
    assert response.status_code == 405


async def test_nats_down_is_503() -> None:
    with override_settings(WALNATS={"SERVERS": [f"nats://127.0.0.1:{free_port()}"]}):
        response = await AsyncClient().post("/count-words", {"text": "a"}, content_type="application/json")
    assert response.status_code == 503
    assert response.json()["error"] == "NatsUnavailable"


@pytest.mark.django_db(transaction=True)
async def test_sign_up_is_accepted() -> None:
    response = await AsyncClient().post(
        "/sign-up", {"email": "ada@example.com", "name": "Ada"}, content_type="application/json"
    )
    assert response.status_code == 202


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (RemoteError("ValueError", "boom"), 502),
        (EventNotRegistered("x"), 503),
        (NoActors("x"), 503),
        (NatsUnavailable("x"), 503),
        (RequestTimeout("x"), 504),
        (PayloadTooLarge("x"), 413),
    ],
)
def test_status_for_each_error(exc: Exception, status: int) -> None:
    assert status_for(exc) == status  # type: ignore[arg-type]


def test_worker_is_running(worker: WorkerProcess) -> None:
    assert worker.process.poll() is None
