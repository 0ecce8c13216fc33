"""inline() under Django's test tools: the example project's views through the sync and async test
clients, `InlineTestMixin` on TestCase (handlers write in the test's transaction), and one view
test that passes in process and again against a real server and worker (`live=True`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from django.db import IntegrityError
from django.test import AsyncClient, Client, TestCase

import walnats_django
from project.example.events import COUNT_WORDS, USER_SIGNED_UP, SignUp
from project.example.models import Welcome
from tests.helpers import unique
from walnats_django import Actor, Event, Registry
from walnats_django.testing import InlineBus, InlineTestMixin, inline


def post(client: Client, path: str, body: dict[str, str]) -> tuple[int, dict[str, object]]:
    response = client.post(path, body, content_type="application/json")
    return response.status_code, response.json()


# -- one test, in process and live -----------------------------------------------------------------


@pytest.fixture(params=["in-process", "live"])
def bus(request: pytest.FixtureRequest) -> Iterator[InlineBus]:
    """The bus in process (no NATS), or live: a real server and a `runactors` worker."""
    if request.param == "live":
        request.getfixturevalue("worker")
    with inline(live=request.param == "live") as active:
        yield active


@pytest.mark.django_db
def test_a_view_that_requests_and_a_view_that_emits(bus: InlineBus) -> None:
    client = Client()
    assert post(client, "/count-words-sync", {"text": "one two three"}) == (200, {"count": 3})
    email = f"{unique('ada')}@example.com"
    assert post(client, "/sign-up", {"email": email, "name": "Ada"}) == (202, {"accepted": True})

    [count] = bus.assert_emitted(COUNT_WORDS, times=1, where=lambda text: text == "one two three")
    assert count.answer == 3
    [signup] = bus.assert_emitted(USER_SIGNED_UP, times=1, where={"email": email})
    assert signup.payload == SignUp(email=email, name="Ada")
    assert signup.uid == f"signup:{email}"


# -- in process with the test clients ----------------------------------------------------------


async def test_the_async_client_calls_a_view_that_awaits_request() -> None:
    with inline() as bus:
        response = await AsyncClient().post("/count-words", {"text": "a b"}, content_type="application/json")
    assert (response.status_code, response.json()) == (200, {"count": 2})
    assert bus.emitted(COUNT_WORDS)[0].results == {"count-words": 2}


async def test_the_async_client_calls_a_sync_view_that_uses_request_sync() -> None:
    """The sync view runs in a thread of the test's loop; request_sync's handlers run there too."""
    with inline() as bus:
        response = await AsyncClient().post(
            "/count-words-sync", {"text": "a b c"}, content_type="application/json"
        )
    assert (response.status_code, response.json()) == (200, {"count": 3})
    bus.assert_emitted(COUNT_WORDS, times=1)


def test_a_view_maps_an_inline_error_to_its_status_as_it_would_a_real_one() -> None:
    with inline(answers={COUNT_WORDS: RuntimeError("counter down")}):
        status, body = post(Client(), "/count-words-sync", {"text": "a"})
    assert status == 502
    assert body == {"error": "RemoteError", "detail": "RuntimeError: counter down"}


class SignUpTests(InlineTestMixin, TestCase):
    """The send-welcome actor is sync and uses the ORM: in process it writes in the test's transaction."""

    def test_the_sync_client_runs_the_handler_in_the_test_transaction(self) -> None:
        status, _ = post(self.client, "/sign-up", {"email": "ada@example.com", "name": "Ada"})
        assert status == 202
        assert Welcome.objects.get(email="ada@example.com").name == "Ada"
        self.bus.assert_emitted(USER_SIGNED_UP, times=1, where={"email": "ada@example.com"})

    async def test_the_async_client_runs_the_handler_in_the_test_transaction(self) -> None:
        response = await self.async_client.post(
            "/sign-up", {"email": "bob@example.com", "name": "Bob"}, content_type="application/json"
        )
        assert response.status_code == 202
        assert await Welcome.objects.filter(email="bob@example.com", name="Bob").aexists()

    def test_the_rows_of_the_previous_test_were_rolled_back(self) -> None:
        assert not Welcome.objects.exists()
        assert self.bus.messages == [], "each test gets a fresh bus"


class RecordOnlyTests(InlineTestMixin, TestCase):
    inline_options = {"run": False}

    def setUp(self) -> None:
        walnats_django.emit_sync(USER_SIGNED_UP, SignUp(email="setup@example.com", name="Set Up"))

    def test_the_bus_is_active_in_set_up_and_runs_nothing(self) -> None:
        self.bus.assert_emitted(USER_SIGNED_UP, times=1, where={"email": "setup@example.com"})
        assert not Welcome.objects.exists()


# -- a failing sync handler and the test's transaction -------------------------------------------

FAILING = Registry()
WELCOME_AGAIN = FAILING.add(Event("inline.welcome-again", str))
handler_threads: list[int] = []


def welcome_again(email: str) -> None:
    handler_threads.append(threading.get_ident())
    Welcome.objects.create(email=f"partial-{email}", name="written before the failure")
    Welcome.objects.create(email=email, name="again")  # the email is unique: IntegrityError


FAILING.add(Actor("welcome-again", WELCOME_AGAIN, welcome_again, max_attempts=2))


class FailingHandlerTests(InlineTestMixin, TestCase):
    inline_options = {"registry": FAILING, "raise_errors": False}

    def test_a_database_error_in_a_handler_leaves_the_test_transaction_usable(self) -> None:
        Welcome.objects.create(email="taken@example.com", name="First")
        walnats_django.emit_sync(WELCOME_AGAIN, "taken@example.com")
        [letter] = self.bus.dead_letters
        assert isinstance(letter.error, IntegrityError)
        assert letter.attempts == 2
        assert handler_threads[-2:] == [threading.get_ident()] * 2
        # Each failed attempt rolled back to its savepoint, its partial write too; the
        # transaction itself still takes queries.
        assert list(Welcome.objects.values_list("email", flat=True)) == ["taken@example.com"]
