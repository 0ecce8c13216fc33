"""Actors of the example app (hosted by `manage.py runactors`)."""

import logging

from walnats_django import registry

from .events import COUNT_WORDS, USER_SIGNED_UP, SignUp
from .models import Welcome

logger = logging.getLogger("project.example")


# A trivial async handler answering web requests: many jobs at once cost nothing but memory.
@registry.actor("count-words", COUNT_WORDS, description="Counts words; answers requests.", max_jobs=256)
async def count_words(text: str) -> int:
    """The seed's example: an async handler whose return value is the answer."""
    return len(text.split())


@registry.actor("send-welcome", USER_SIGNED_UP, max_attempts=5)
def send_welcome(signup: SignUp) -> None:
    """A sync handler using the ORM (runs in a worker thread with connection hygiene)."""
    Welcome.objects.get_or_create(email=signup.email, defaults={"name": signup.name})
    logger.info("Welcomed email=%s", signup.email)
