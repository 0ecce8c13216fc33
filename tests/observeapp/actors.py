"""Actors of the metrics and tracing tests: each answers, fails, or waits, as its test needs."""

import asyncio

from opentelemetry import trace

from walnats_django import registry

from .declared import OBS_ECHO, OBS_FAIL, OBS_NOTE, OBS_SLOW, TRACED_ECHO, TRACED_FAIL


@registry.actor("obs-echo", OBS_ECHO)
async def obs_echo(text: str) -> str:
    return text


@registry.actor("obs-fail", OBS_FAIL, max_attempts=2, retry_delay=(0.05,))
async def obs_fail(text: str) -> str:
    raise ValueError(f"cannot handle {text!r}")


@registry.actor("obs-slow", OBS_SLOW)
async def obs_slow(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


@registry.actor("obs-note", OBS_NOTE)
async def obs_note(text: str) -> None:
    return None


@registry.actor("traced-echo", TRACED_ECHO)
def traced_echo(text: str) -> str:
    """A sync handler (it runs in a thread) whose own span must be a child of the job's."""
    with trace.get_tracer("tests.observeapp").start_as_current_span("handler work"):
        return text


@registry.actor("traced-fail", TRACED_FAIL, max_attempts=1)
async def traced_fail(text: str) -> str:
    raise ValueError(f"cannot trace {text!r}")
