"""The example's views, tested as the README tells users to: `walnats_bus` runs them in process
(no NATS); `test_views_live.py` runs these same tests against a real server and worker."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from project.example.events import COUNT_WORDS, USER_SIGNED_UP
from walnats_django.testing import InlineBus


def test_count_words(client: Client, walnats_bus: InlineBus) -> None:
    response = client.post("/count-words", {"text": "one two three"}, content_type="application/json")
    assert response.json() == {"count": 3}
    [asked] = walnats_bus.assert_emitted(COUNT_WORDS, times=1, where=lambda text: text == "one two three")
    assert asked.answer == 3


def test_count_words_from_a_sync_view(client: Client, walnats_bus: InlineBus) -> None:
    response = client.post("/count-words-sync", {"text": "a b"}, content_type="application/json")
    assert response.json() == {"count": 2}
    walnats_bus.assert_emitted(COUNT_WORDS, times=1)


async def test_count_words_with_the_async_client(walnats_bus: InlineBus) -> None:
    from django.test import AsyncClient

    response = await AsyncClient().post("/count-words", {"text": "x"}, content_type="application/json")
    assert response.json() == {"count": 1}


@pytest.mark.django_db(transaction=True)  # live, the worker's own thread writes the welcome
def test_sign_up(client: Client, walnats_bus: InlineBus) -> None:
    email = f"{uuid.uuid4().hex[:8]}@example.com"  # a fresh uid: the view de-duplicates by email
    response = client.post("/sign-up", {"email": email, "name": "Ada"}, content_type="application/json")
    assert response.status_code == 202
    [signup] = walnats_bus.assert_emitted(USER_SIGNED_UP, times=1, where={"email": email})
    assert signup.uid == f"signup:{email}"


def test_bad_input_sends_nothing(client: Client, walnats_bus: InlineBus) -> None:
    response = client.post("/count-words", {"text": 3}, content_type="application/json")
    assert response.status_code == 400
    walnats_bus.assert_not_emitted(COUNT_WORDS)
