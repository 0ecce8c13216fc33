"""The example's actors: in process with `InlineTestMixin` (handlers write in the test's
transaction), and on real workers with `walnats_worker`."""

from __future__ import annotations

import pytest
from django.test import TestCase

import walnats_django
from project.example.events import COUNT_WORDS, USER_SIGNED_UP, SignUp
from project.example.models import Welcome
from walnats_django.testing import InlineTestMixin, LiveWorker


class SignUpTests(InlineTestMixin, TestCase):
    def test_sign_up_welcomes_the_user(self) -> None:
        response = self.client.post(
            "/sign-up", {"email": "ada@example.com", "name": "Ada"}, content_type="application/json"
        )
        assert response.status_code == 202
        assert Welcome.objects.filter(email="ada@example.com", name="Ada").exists()  # send-welcome ran
        self.bus.assert_emitted(USER_SIGNED_UP, times=1)

    def test_a_second_sign_up_is_a_duplicate(self) -> None:
        signup = SignUp(email="bob@example.com", name="Bob")
        for _ in range(2):
            walnats_django.emit_sync(USER_SIGNED_UP, signup, uid="signup:bob@example.com")
        [stored] = self.bus.emitted(USER_SIGNED_UP)
        assert stored.payload == signup
        assert Welcome.objects.filter(email="bob@example.com").count() == 1


@pytest.mark.walnats(actors=["count-words"])
async def test_count_words_in_a_worker_thread(walnats_worker: LiveWorker) -> None:
    assert await walnats_django.request(COUNT_WORDS, "a b c") == 3


@pytest.mark.walnats(actors=["count-words"], subprocess=True)
def test_count_words_in_runactors(walnats_worker: LiveWorker) -> None:
    assert walnats_django.request_sync(COUNT_WORDS, "a b") == 2
