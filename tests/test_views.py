"""The example project's views over Django's async test client, against a real worker."""

from __future__ import annotations

import json

import pytest
from django.test import AsyncClient, Client, override_settings

from project.example.views import status_for
from tests.conftest import WorkerProcess
from walnats_django import (
    DuplicateRequest,
    EventNotRegistered,
    InvalidHeader,
    JetStreamDisabled,
    NatsUnavailable,
    NoActors,
    NotARequestEvent,
    PayloadTooLarge,
    PayloadTypeError,
    PublishRejected,
    RemoteError,
    RequestTimeout,
    SerializationError,
    WalnatsError,
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


def sign_up(email: str = "ada@example.com", name: str = "Ada") -> bytes:
    return json.dumps({"email": email, "name": name}).encode()


DEEP = b"[" * 100_000


@pytest.mark.parametrize(
    ("path", "body", "status", "problem"),
    [
        ("/count-words", b"not json", 400, "not JSON"),
        ("/count-words", b"", 400, "not JSON"),
        ("/count-words", b'{"text": "caf\xe9"}', 400, "not UTF-8"),  # Latin-1
        ("/count-words", '{"text": "a"}'.encode("utf-16"), 400, "not UTF-8"),  # json.loads would take it
        ("/count-words", DEEP, 400, "nested too deeply"),
        ("/count-words", DEEP + b"]" * 100_000, 400, "nested too deeply"),  # valid JSON, all the same
        ("/count-words-sync", DEEP, 400, "nested too deeply"),
        ("/no-request", DEEP, 400, "nested too deeply"),
        ("/count-words", b"[]", 400, "JSON object"),
        ("/count-words", b"null", 400, "JSON object"),
        ("/count-words", b"{}", 400, '"text" is missing'),
        ("/count-words", b'{"text": 3}', 400, '"text" must be a string'),
        ("/count-words", b'{"text": null}', 400, '"text" must be a string'),
        ("/count-words-sync", b'{"text": ["a"]}', 400, '"text" must be a string'),
        ("/no-request", b'{"txt": "a"}', 400, '"text" is missing'),
        ("/count-words", json.dumps({"text": "a " * 600_000}).encode(), 413, "max_payload"),
        ("/count-words", json.dumps({"text": "a " * 1_400_000}).encode(), 413, "DATA_UPLOAD_MAX_MEMORY_SIZE"),
        ("/sign-up", b'{"email": "ada@example.com"}', 400, '"name" is missing'),
        ("/sign-up", sign_up(email="ada@example.com\r\nNats-Msg-Id: x"), 400, '"email"'),
        ("/sign-up", sign_up(email="ada\x00@example.com"), 400, '"email"'),
        ("/sign-up", sign_up(email="not an email"), 400, '"email"'),
        ("/sign-up", sign_up(email="a" * 250 + "@example.com"), 400, '"email"'),
        ("/sign-up", sign_up(name="n" * 201), 400, '"name"'),
        ("/sign-up", sign_up(name=""), 400, '"name"'),
        ("/sign-up", b'{"email": "ada@example.com", "name": "\\ud800"}', 400, '"name" is not valid Unicode'),
    ],
    ids=lambda value: repr(value)[:40] if isinstance(value, bytes) else None,
)
async def test_bad_input_is_4xx_naming_the_problem(path: str, body: bytes, status: int, problem: str) -> None:
    response = await AsyncClient().post(path, body, content_type="application/json")
    assert response.status_code == status
    assert problem in response.json()["detail"]


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
    [  # the README's "Errors" table
        (PayloadTypeError("x"), 400),
        (SerializationError("x"), 500),
        (PayloadTooLarge("x"), 413),
        (InvalidHeader("x"), 400),
        (NotARequestEvent("x"), 500),
        (EventNotRegistered("x"), 503),
        (NoActors("x"), 503),
        (NatsUnavailable("x"), 503),
        (JetStreamDisabled("x"), 503),
        (PublishRejected("x"), 503),
        (DuplicateRequest("x"), 409),
        (RemoteError("ValueError", "boom"), 502),
        (RequestTimeout("x"), 504),
        (WalnatsError("x"), 500),
    ],
)
def test_status_for_each_error(exc: WalnatsError, status: int) -> None:
    assert status_for(exc) == status


def test_worker_is_running(worker: WorkerProcess) -> None:
    assert worker.process.poll() is None
