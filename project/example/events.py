"""Events of the example app (discovered by walnats_django at start-up)."""

from dataclasses import dataclass

from walnats_django import Event, Limits, registry

COUNT_WORDS = registry.add(
    Event("count-words", str, description="Count the words of a text.").with_response(int)
)


@dataclass(frozen=True)
class SignUp:
    """A user signed up; actors send the welcome and record it."""

    email: str
    name: str


USER_SIGNED_UP = registry.add(
    Event(
        "user-signed-up",
        SignUp,
        description="A user signed up.",
        limits=Limits(age=7 * 24 * 3600, messages=100_000),
    )
)
