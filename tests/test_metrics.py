"""Prometheus metrics on real parts: a `runactors --metrics-port` worker scraped over HTTP, and the
web side's `metrics_view` scraped with Django's test client after real requests and emits."""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from django.test import AsyncClient, override_settings
from django.urls import path
from prometheus_client.parser import text_string_to_metric_families

import walnats_django
from tests.helpers import StartWorker, WorkerProcess, until
from tests.observeapp.declared import OBS_ECHO, OBS_FAIL, OBS_NOTE, OBS_SLOW
from walnats_django import Event, EventNotRegistered, RemoteError, RequestTimeout
from walnats_django.metrics import metrics_view
from walnats_django.testing import NatsServer

OBSERVED = {"DJANGO_SETTINGS_MODULE": "tests.settings_observe"}
ACTORS = ("--actor", "obs-echo", "--actor", "obs-fail", "--actor", "obs-slow", "--actor", "obs-note")
NOWHERE = Event("obs.nowhere", str)
"""No stream captures it: emits fail with EventNotRegistered."""

urlpatterns = [path("metrics", metrics_view)]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition, keyed by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def metrics_url(worker: WorkerProcess) -> str:
    line = worker.wait_for_line("Serving metrics url=")
    match = re.search(r"url=(\S+)", line)
    assert match, line
    return match[1]


async def scrape(url: str) -> Samples:
    def get() -> str:
        with urllib.request.urlopen(url, timeout=5) as response:
            assert response.headers["Content-Type"].startswith("text/plain")
            text: str = response.read().decode()
            return text

    return parse(await asyncio.to_thread(get))


@pytest.fixture(scope="module")
def metrics_worker(start_worker: StartWorker) -> Iterator[WorkerProcess]:
    """A worker of the observe app's obs-* actors serving metrics on a free port."""
    worker = start_worker(*ACTORS, "--metrics-port", "0", extra_env=OBSERVED)
    yield worker
    worker.stop()


async def publish_raw(url: str, subject: str, payload: bytes, headers: dict[str, str]) -> None:
    """Publish to JetStream as a foreign producer would: bytes and headers as given."""
    nc = await nats.connect(url)
    try:
        await nc.jetstream().publish(subject, payload, headers=headers or None)
    finally:
        await nc.close()


JOBS = "walnats_jobs_total"
OUTCOMES = ("acked", "retried", "dead_lettered", "expired", "terminated", "handed_back", "interrupted")


def job_counts(before: Samples, after: Samples, actor: str, event: str) -> dict[str, float]:
    """How many jobs of `actor` ended in each outcome between two scrapes (outcomes that moved)."""
    moved = {
        outcome: value(after, JOBS, actor=actor, event=event, outcome=outcome)
        - value(before, JOBS, actor=actor, event=event, outcome=outcome)
        for outcome in OUTCOMES
    }
    return {outcome: count for outcome, count in moved.items() if count}


async def test_runactors_metrics_count_the_jobs_that_ran(
    metrics_worker: WorkerProcess, nats_server: NatsServer
) -> None:
    url = metrics_url(metrics_worker)
    before = await scrape(url)
    answers = await asyncio.gather(*(walnats_django.request(OBS_ECHO, f"hi {i}") for i in range(5)))
    assert answers == [f"hi {i}" for i in range(5)]
    for i in range(2):  # each fails, is retried once, then dead-lettered (max_attempts=2)
        with pytest.raises(RemoteError, match="cannot handle"):
            await walnats_django.request(OBS_FAIL, f"no {i}")
    for i in range(3):
        await walnats_django.emit(OBS_NOTE, f"note {i}", wait=True)
    # A request whose requester gave up a minute ago, and bytes no str payload decodes from.
    gave_up = {"Walnats-Deadline": repr(time.time() - 60)}
    await publish_raw(nats_server.url, OBS_ECHO.subject, b'"late"', gave_up)
    await publish_raw(nats_server.url, OBS_ECHO.subject, b"{not json", {})
    expected = {
        ("obs-echo", "obs.echo"): {"acked": 5, "expired": 1, "terminated": 1},
        ("obs-fail", "obs.fail"): {"retried": 2, "dead_lettered": 2},
        ("obs-note", "obs.note"): {"acked": 3},
    }

    async def all_counted() -> Samples | None:
        after = await scrape(url)
        counts = {key: job_counts(before, after, *key) for key in expected}
        return after if counts == expected else None

    after = await until(all_counted, f"job counts {expected}")
    for (actor, event), outcomes in expected.items():
        ran = sum(count for outcome, count in outcomes.items() if outcome != "expired")
        timed = value(after, "walnats_job_duration_seconds_count", actor=actor, event=event) - value(
            before, "walnats_job_duration_seconds_count", actor=actor, event=event
        )
        assert timed == ran, f"{actor}: every job that ran is timed once, expired ones are not"
        assert value(after, "walnats_jobs_in_progress", actor=actor) == 0
        assert value(after, "walnats_pulls_total", actor=actor) >= 1
    assert ("walnats_reconnects_total", ()) in after
    seconds = value(after, "walnats_job_duration_seconds_sum", actor="obs-echo", event="obs.echo")
    assert 0 < seconds < 5


async def test_a_running_job_is_in_progress(metrics_worker: WorkerProcess) -> None:
    url = metrics_url(metrics_worker)
    running = asyncio.ensure_future(walnats_django.request(OBS_SLOW, 1.0))
    try:
        await until(
            lambda: _in_progress(url, "obs-slow"), "walnats_jobs_in_progress{actor=obs-slow} is 1", timeout=5
        )
    finally:
        assert await running == 1.0
    after = await scrape(url)
    assert value(after, "walnats_jobs_in_progress", actor="obs-slow") == 0


async def _in_progress(url: str, actor: str) -> bool:
    return value(await scrape(url), "walnats_jobs_in_progress", actor=actor) == 1


@override_settings(ROOT_URLCONF=__name__)
async def test_metrics_view_counts_requests_and_emits_by_event_and_outcome(
    metrics_worker: WorkerProcess,
) -> None:
    client = AsyncClient()
    with override_settings(WALNATS={"REQUEST_TIMEOUT": 4.0, "METRICS": True}):
        response = await client.get("/metrics")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain")
        before = parse(response.content.decode())
        for i in range(3):
            assert await walnats_django.request(OBS_ECHO, f"web {i}") == f"web {i}"
        with pytest.raises(RemoteError):
            await walnats_django.request(OBS_FAIL, "web")
        with pytest.raises(RequestTimeout):
            await walnats_django.request(OBS_SLOW, 0.5, timeout=0.2)
        assert await asyncio.to_thread(walnats_django.request_sync, OBS_ECHO, "sync") == "sync"
        await walnats_django.emit(OBS_NOTE, "web", wait=True)
        await walnats_django.emit(OBS_NOTE, "web")
        with pytest.raises(EventNotRegistered):
            await walnats_django.emit(NOWHERE, "web", wait=True)
        after = parse((await client.get("/metrics")).content.decode())

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("walnats_requests_total", event="obs.echo", outcome="ok") == 4
    assert moved("walnats_requests_total", event="obs.fail", outcome="remote_error") == 1
    assert moved("walnats_requests_total", event="obs.slow", outcome="timeout") == 1
    assert moved("walnats_request_duration_seconds_count", event="obs.echo") == 4
    assert moved("walnats_request_duration_seconds_count", event="obs.slow") == 1
    assert 0.2 <= moved("walnats_request_duration_seconds_sum", event="obs.slow") < 1
    assert moved("walnats_emits_total", event="obs.note", outcome="ok") == 2
    assert moved("walnats_emits_total", event="obs.nowhere", outcome="not_registered") == 1
    assert moved("walnats_emit_duration_seconds_count", event="obs.note") == 2
    # Calls outside the metrics-on settings are not counted.
    await walnats_django.request(OBS_ECHO, "unmetered")
    with override_settings(WALNATS={"METRICS": True}):
        final = parse((await client.get("/metrics")).content.decode())
    assert value(final, "walnats_requests_total", event="obs.echo", outcome="ok") == value(
        after, "walnats_requests_total", event="obs.echo", outcome="ok"
    )


def test_metrics_view_negotiates_openmetrics() -> None:
    from django.test import Client

    with override_settings(ROOT_URLCONF=__name__):
        response = Client().get("/metrics", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0")
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.decode().endswith("# EOF\n")


async def test_runactors_metrics_count_reconnects(start_worker: StartWorker, tmp_path: Path) -> None:
    with NatsServer(store_dir=tmp_path / "store") as own_server:
        worker = start_worker(
            *ACTORS, "--metrics-port", "0", extra_env={**OBSERVED, "NATS_URL": own_server.url}
        )
        url = metrics_url(worker)
        assert value(await scrape(url), "walnats_reconnects_total") == 0
        own_server.stop()
        own_server.start()
        await asyncio.to_thread(worker.wait_for_line, "Reconnected to NATS", 20)
        assert value(await scrape(url), "walnats_reconnects_total") == 1
        worker.stop()
