"""Clock skew is visible: walnats_django/worker/clock.py and the expired branch of worker/job.py.

Unit tests feed made-up store times to `ServerClock` under a fake clock; the end-to-end test runs
`runactors` on a host whose clock runs 4.5 s ahead (tests/skewed_clock/sitecustomize.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import types
from pathlib import Path

import pytest
from nats.aio.msg import Msg

import walnats_django
from tests.helpers import ROOT, StartWorker, await_line, record_lines, registered_actor, unique
from tests.testapp.events import SKEWED_ECHO
from walnats_django import RequestTimeout
from walnats_django.worker import clock as clock_module
from walnats_django.worker import job as job_module
from walnats_django.worker.capacity import Capacity
from walnats_django.worker.clock import SAMPLE_EVERY, ServerClock
from walnats_django.worker.job import EXPIRED_WARN_EVERY, JobRunner
from walnats_django.worker.stats import Stats
from walnats_django.worker.watch import JobWatch

SKEW = 4.5
SKEWED_CLOCK = ROOT / "tests" / "skewed_clock"

STORED = 1_800_000_000.0
"""A made-up time at which the server stored a message (server clock, epoch seconds)."""


class FakeClock:
    """The worker's wall clock and monotonic clock, moved by hand."""

    def __init__(self, wall: float, monotonic: float = 1000.0) -> None:
        self.wall = wall
        self.monotonic = monotonic

    def server_clock(self) -> ServerClock:
        return ServerClock(wall=lambda: self.wall, monotonic=lambda: self.monotonic)


class FakeClient:
    """What `Msg.ack()` needs of a nats-py client: acks are recorded, not sent."""

    def __init__(self) -> None:
        self.published: list[str] = []

    async def publish(self, subject: str, payload: bytes = b"", **_: object) -> None:
        self.published.append(subject)


def js_msg(
    stored: float,
    *,
    delivered: int = 1,
    pending: int = 0,
    seq: int = 7,
    headers: dict[str, str] | None = None,
    client: FakeClient | None = None,
) -> Msg:
    """A JetStream message as nats-py gets it: the metadata is in the ack subject."""
    reply = f"$JS.ACK.test-stream.test-consumer.{delivered}.{seq}.{seq}.{round(stored * 1e9)}.{pending}"
    return Msg(client or FakeClient(), subject="test.subject", reply=reply, headers=headers)  # type: ignore[arg-type]


def clock_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("Clock skew")]


# -- ServerClock: the offset from fresh messages ------------------------------------------------


def test_a_clock_ahead_of_the_server_is_warned_about_after_a_few_fresh_messages(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeClock(wall=STORED + SKEW + 0.002)
    clock = fake.server_clock()
    caplog.set_level(logging.WARNING, "walnats_django.worker")
    clock.observe(js_msg(STORED))
    clock.observe(js_msg(STORED))
    assert clock.offset == pytest.approx(SKEW + 0.002)
    assert clock.skew is None, "two messages may both have waited for a slot"
    assert clock_warnings(caplog) == []
    clock.observe(js_msg(STORED))
    assert clock.skew == pytest.approx(SKEW + 0.002)
    (line,) = clock_warnings(caplog)
    assert line.startswith(
        "Clock skew offset=+4.50s stream=test-stream: this worker's clock runs 4.50s ahead"
    )
    assert "NTP/chrony" in line


def test_the_skew_warning_repeats_once_a_minute_while_it_lasts(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeClock(wall=STORED + SKEW)
    clock = fake.server_clock()
    caplog.set_level(logging.WARNING, "walnats_django.worker")
    for _ in range(20):
        clock.observe(js_msg(STORED))
        fake.monotonic += 1.0
    assert len(clock_warnings(caplog)) == 1
    fake.monotonic += clock_module.WARN_EVERY
    clock.observe(js_msg(STORED))
    assert len(clock_warnings(caplog)) == 2


def test_a_message_that_waited_does_not_look_like_skew(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeClock(wall=STORED)
    clock = fake.server_clock()
    caplog.set_level(logging.WARNING, "walnats_django.worker")
    for waited in (0.003, 5.0, 0.002, 7.5, 9.0):
        fake.wall = STORED + waited
        clock.observe(js_msg(STORED))
    assert clock.offset == pytest.approx(0.002, abs=1e-5)
    assert clock.skew is None
    assert clock_warnings(caplog) == []


def test_redelivered_and_backlogged_messages_are_not_samples() -> None:
    fake = FakeClock(wall=STORED + 30.0)
    clock = fake.server_clock()
    for msg in (js_msg(STORED, delivered=2), js_msg(STORED, pending=12)):
        clock.observe(msg)
    clock.observe(Msg(FakeClient(), subject="core.subject", reply="_INBOX.abc"))  # type: ignore[arg-type]
    assert clock.offset is None


def test_a_store_time_in_the_future_is_skew_at_once(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeClock(wall=STORED - 2.0)
    clock = fake.server_clock()
    caplog.set_level(logging.WARNING, "walnats_django.worker")
    clock.observe(js_msg(STORED))
    assert clock.skew == pytest.approx(-2.0)
    (line,) = clock_warnings(caplog)
    assert line.startswith(
        "Clock skew offset=-2.00s stream=test-stream: this worker's clock runs 2.00s behind"
    )
    assert "stored 2.00s in this worker's future" in line


def test_small_offsets_are_latency_not_skew(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeClock(wall=STORED + 0.8)
    clock = fake.server_clock()
    caplog.set_level(logging.WARNING, "walnats_django.worker")
    for _ in range(5):
        clock.observe(js_msg(STORED))
    fake.wall = STORED - 0.9
    clock.observe(js_msg(STORED))
    assert clock.skew is None
    assert clock_warnings(caplog) == []


def test_observe_says_when_the_next_sample_is_due() -> None:
    fake = FakeClock(wall=STORED, monotonic=50.0)
    clock = fake.server_clock()
    assert clock.next_sample == 0.0, "the first message is a sample"
    clock.observe(js_msg(STORED, pending=3))
    assert clock.next_sample == 50.0 + SAMPLE_EVERY, "a message that is no sample also waits its turn"


# -- ServerClock.why_expired: clocks or a backlog -----------------------------------------------


def test_a_deadline_before_the_store_time_blames_the_clocks() -> None:
    clock = FakeClock(wall=STORED).server_clock()
    why = clock.why_expired(deadline=STORED - 3.0, stored=STORED, now=STORED + 0.01)
    assert why.startswith(
        "apparent_skew>=3.00s: the requester's deadline was 3.00s before the server stored it"
    )
    assert "the requester's clock is behind this worker's, or the other way round" in why
    why = clock.why_expired(deadline=STORED + 0.05, stored=STORED, now=STORED + 0.06)
    assert "deadline was only 0.05s after the server stored it" in why


def test_an_expiry_explained_by_this_workers_clock_blames_the_clocks() -> None:
    fake = FakeClock(wall=STORED + SKEW + 0.002)
    clock = fake.server_clock()
    clock.observe(js_msg(STORED))
    why = clock.why_expired(deadline=STORED + 1.0, stored=STORED, now=fake.wall)
    assert why.startswith(
        "apparent_skew=+4.50s: it expired 4.50s after the server stored it by this worker's clock"
    )
    assert "reached this worker within 0.00s of being stored" in why
    assert "this worker's clock is ahead of the requester's, or the other way round" in why


def test_an_expiry_after_waiting_is_a_backlog() -> None:
    fake = FakeClock(wall=STORED + 0.003)
    clock = fake.server_clock()
    clock.observe(js_msg(STORED))
    why = clock.why_expired(deadline=STORED + 5.0, stored=STORED, now=STORED + 12.0)
    assert why.startswith("expired after waiting 12.00s in the stream (a backlog")
    assert "skew" not in why
    assert FakeClock(wall=0).server_clock().why_expired(STORED + 5.0, STORED, STORED + 12.0) == why
    # A worker 2 s ahead of the server: the request had expired by the server's clock too.
    skewed = fake.server_clock()
    for _ in range(3):
        skewed.add(2.0, "test-stream")
    assert skewed.why_expired(STORED + 5.0, STORED, STORED + 12.0).startswith("expired after waiting 12.00s")


def test_an_expired_message_that_is_not_from_jetstream() -> None:
    clock = FakeClock(wall=STORED).server_clock()
    assert clock.why_expired(deadline=STORED - 2.0, stored=0.0, now=STORED) == "its deadline passed 2.00s ago"


# -- JobRunner: expired requests are warned about, at most every 10 s per actor ----------------


async def test_expired_requests_warn_once_per_interval_with_the_count(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeClock(wall=STORED + SKEW + 0.002)
    monkeypatch.setattr(
        job_module, "time", types.SimpleNamespace(time=lambda: fake.wall, monotonic=lambda: fake.monotonic)
    )
    actor = registered_actor("skewed-echo")
    runner = JobRunner(
        actor,
        watch=JobWatch(actor.ack_wait, actor.job_timeout),
        capacity=Capacity(None),
        sync_jobs=None,  # type: ignore[arg-type]  # not reached by an expired request
        replier=None,  # type: ignore[arg-type]
        dead_letters=None,  # type: ignore[arg-type]
        stats=Stats(),
        clock=fake.server_clock(),
    )
    client = FakeClient()
    caplog.set_level(logging.DEBUG, "walnats_django.worker")

    async def expire(seq: int) -> None:
        headers = {"Walnats-Deadline": repr(STORED + 1.0)}
        runner.capacity.busy += 1
        await runner.run(js_msg(STORED, seq=seq, headers=headers, client=client))

    def drops(level: int) -> list[str]:
        return [
            r.getMessage()
            for r in caplog.records
            if r.levelno == level and r.getMessage().startswith("Dropped expired request")
        ]

    for seq in (1, 2, 3):
        await expire(seq)
        fake.monotonic += 1.0
    fake.monotonic += EXPIRED_WARN_EVERY
    await expire(4)
    assert len(client.published) == 4, "every expired request is acked"
    assert runner.stats.expired == 4
    first, later = drops(logging.WARNING)
    assert first.startswith(
        "Dropped expired request actor=skewed-echo seq=1 dropped=1 (since the last such warning); "
        "apparent_skew=+4.50s: "
    )
    assert later.startswith("Dropped expired request actor=skewed-echo seq=4 dropped=3 ")
    assert drops(logging.DEBUG) == [
        "Dropped expired request actor=skewed-echo seq=2",
        "Dropped expired request actor=skewed-echo seq=3",
    ]


# -- end to end: runactors on a host whose clock runs ahead ------------------------------------


async def test_a_worker_ahead_of_the_server_says_so_and_still_drops_expired_requests(
    start_worker: StartWorker, record_dir: Path
) -> None:
    pythonpath = os.pathsep.join(p for p in (str(SKEWED_CLOCK), os.environ.get("PYTHONPATH", "")) if p)
    worker = start_worker(
        "--actor",
        "skewed-echo",
        extra_env={"PYTHONPATH": pythonpath, "WALNATS_TEST_CLOCK_SKEW": str(SKEW)},
    )
    requests = 4
    for _ in range(requests):
        with pytest.raises(RequestTimeout):
            await walnats_django.request(SKEWED_ECHO, unique("skewed"), timeout=1.0)

    dropped = await await_line(
        worker, "WARNING walnats_django.worker Dropped expired request actor=skewed-echo"
    )
    match = re.search(r"apparent_skew=\+(\d+\.\d+)s: ", dropped)
    assert match, dropped
    assert float(match.group(1)) == pytest.approx(SKEW, abs=0.3)
    assert "this worker's clock is ahead of the requester's, or the other way round" in dropped

    skew = await await_line(worker, "WARNING walnats_django.worker Clock skew offset=")
    match = re.search(r"Clock skew offset=\+(\d+\.\d+)s stream=test-skewed-echo: ", skew)
    assert match, skew
    assert float(match.group(1)) == pytest.approx(SKEW, abs=0.3)

    worker.signal()
    assert await asyncio.to_thread(worker.wait) == 0
    assert f"expired={requests}" in worker.log()
    assert record_lines(record_dir / "skewed-echo") == [], "an expired request never runs"
    # All dropped within 10 s: one warning, the others at DEBUG.
    warned = [line for line in worker.lines if "WARNING walnats_django.worker Dropped expired" in line]
    assert len(warned) == 1, warned
    print(f"\n{dropped}\n{skew}")
