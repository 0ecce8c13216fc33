"""The results that changed last in a results bucket, read with bounded work however many it holds.

The bucket keeps one message per result id (history 1), so its newest messages by stream sequence
(the KV revision) are the results written last. `newest_entries` reads only the headers (key,
size, time) of the newest `count` messages, through a short-lived consumer that starts near the
end of the stream; `recent_results` then reads values newest first until a page is full. Neither
lists the whole bucket: a bucket of 100,000 results costs about what one of `count` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import math
from collections.abc import Callable

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamInfo
from nats.js.errors import NotFoundError

from .records import TaskRecord

SCAN_CONSUMER_TTL = 10.0
"""Seconds after which the server removes a scan's consumer that its page left behind (a timeout)."""
FETCH_BATCH = 500
READ_CONCURRENCY = 32
"""Values read at once."""
_SLACK = 1.25
_MIN_TIME = datetime.datetime.min.replace(tzinfo=datetime.UTC)


@dataclasses.dataclass(frozen=True)
class Entry:
    """A result's place in its bucket."""

    key: str
    """The result id."""
    revision: int
    """The stream sequence of its current value (grows with every write to the bucket)."""
    size: int
    """Bytes of its value."""
    changed_at: datetime.datetime
    """When its current value was written."""


@dataclasses.dataclass(frozen=True)
class Read:
    """A result as read: its record, or why the stored value is not one."""

    backend: str
    entry: Entry
    record: TaskRecord | None
    problem: str | None = None


@dataclasses.dataclass(frozen=True)
class Recent:
    """What `recent_results` found in one bucket, and how much of it it looked at."""

    backend: str
    total: int
    """Results in the bucket."""
    scanned: int
    """The newest results (by revision) whose key, size and time were read."""
    read: int
    """Values read."""
    bytes_read: int
    found: list[Read]
    """The matching results, newest first."""
    out_of_bytes: bool = False
    """Reading stopped at the byte budget before the page was full."""

    @property
    def complete(self) -> bool:
        """Whether every result in the bucket was looked at."""
        return self.scanned >= self.total


def bucket_stream(bucket: str) -> str:
    return f"KV_{bucket}"


def key_subject(bucket: str, key: str) -> str:
    return f"$KV.{bucket}.{key}"


async def newest_entries(js: JetStreamContext, info: StreamInfo, count: int) -> list[Entry]:
    """The newest `count` entries of the bucket stream `info` describes, newest first.

    The scan starts where `count` results are expected from the stream's density (results per
    sequence), and starts earlier (once or twice) only when too few are found after that point.
    """
    state, stream = info.state, info.config.name
    assert stream is not None
    if not state.messages or count <= 0:
        return []
    span = state.last_seq - state.first_seq + 1
    window = min(span, max(count, math.ceil(span * count / state.messages * _SLACK)))
    while True:
        start = max(state.first_seq, state.last_seq - window + 1)
        consumer = await js.add_consumer(stream, _scan_config(start))
        name, found = consumer.name, consumer.num_pending or 0
        assert name is not None
        try:
            if found >= count or start == state.first_seq:
                entries = await _read_headers(js, stream, name, found)
                entries.sort(key=lambda entry: entry.revision, reverse=True)
                return entries[:count]
        finally:
            await _delete_consumer(js, stream, name)
        window = max(window * 2, math.ceil(window * count / max(found, 1) * _SLACK))


async def recent_results(
    js: JetStreamContext,
    backend: str,
    bucket: str,
    *,
    scan: int,
    limit: int,
    max_bytes: int,
    keep: Callable[[TaskRecord], bool] | None = None,
) -> Recent | None:
    """Up to `limit` results among the `scan` newest of `bucket` that `keep` accepts (all when None),
    newest first, reading at most `max_bytes` of values; None when the bucket does not exist."""
    try:
        info = await js.stream_info(bucket_stream(bucket))
    except NotFoundError:
        return None
    entries = await newest_entries(js, info, scan)
    direct = bool(info.config.allow_direct)
    found: list[Read] = []
    read = bytes_read = 0
    out_of_bytes = False
    while read < len(entries) and len(found) < limit and not out_of_bytes:
        batch: list[Entry] = []
        for entry in entries[read : read + READ_CONCURRENCY]:
            if bytes_read + entry.size > max_bytes:
                out_of_bytes = True
                break
            batch.append(entry)
            bytes_read += entry.size
        read += len(batch)
        reads = await asyncio.gather(*(_read_value(js, backend, bucket, entry, direct) for entry in batch))
        for one in reads:
            if one is None or len(found) >= limit:
                continue
            if keep is None or (one.record is not None and keep(one.record)):
                found.append(one)
    return Recent(
        backend=backend,
        total=info.state.messages,
        scanned=len(entries),
        read=read,
        bytes_read=bytes_read,
        found=found,
        out_of_bytes=out_of_bytes,
    )


async def read_result(js: JetStreamContext, backend: str, bucket: str, result_id: str) -> Read | None:
    """The current value of one result, or None when the bucket or the key does not exist."""
    try:
        msg = await js.get_msg(bucket_stream(bucket), subject=key_subject(bucket, result_id))
    except NotFoundError:
        return None
    if msg.seq is None or _is_delete(msg.headers):
        return None
    entry = Entry(result_id, msg.seq, len(msg.data or b""), msg.time or _MIN_TIME)
    return _decoded(backend, entry, msg.data or b"")


def _scan_config(start: int) -> ConsumerConfig:
    """An ephemeral, in-memory, unacknowledged consumer of headers only (no values) from `start`."""
    return ConsumerConfig(
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=start,
        ack_policy=AckPolicy.NONE,
        headers_only=True,
        mem_storage=True,
        num_replicas=1,
        inactive_threshold=SCAN_CONSUMER_TTL,
        description="walnats_django admin: the newest task results",
    )


async def _read_headers(js: JetStreamContext, stream: str, consumer: str, expected: int) -> list[Entry]:
    entries: list[Entry] = []
    if expected <= 0:
        return entries
    prefix = key_subject(stream.removeprefix("KV_"), "")
    sub = await js.pull_subscribe_bind(consumer, stream)
    try:
        delivered = 0
        while delivered < expected:
            try:
                msgs = await sub.fetch(min(FETCH_BATCH, expected - delivered), timeout=2.0)
            except nats.errors.TimeoutError:
                break  # results expired (or were replaced) since the consumer counted them
            if not msgs:
                break
            delivered += len(msgs)
            for msg in msgs:
                headers = msg.headers or {}
                if _is_delete(headers) or not msg.subject.startswith(prefix):
                    continue
                meta = msg.metadata
                entries.append(
                    Entry(
                        key=msg.subject[len(prefix) :],
                        revision=meta.sequence.stream,
                        size=int(headers.get("Nats-Msg-Size", "0") or 0),
                        changed_at=meta.timestamp,
                    )
                )
    finally:
        await sub.unsubscribe()
    return entries


async def _read_value(
    js: JetStreamContext, backend: str, bucket: str, entry: Entry, direct: bool
) -> Read | None:
    stream = bucket_stream(bucket)
    try:
        msg = await js.get_msg(stream, seq=entry.revision, direct=direct)
    except NotFoundError:
        # Written again since the scan (or expired): its current value, if it still has one.
        try:
            msg = await js.get_msg(stream, subject=key_subject(bucket, entry.key), direct=direct)
        except NotFoundError:
            return None
        entry = dataclasses.replace(entry, revision=msg.seq or entry.revision)
    if _is_delete(msg.headers):
        return None
    return _decoded(backend, entry, msg.data or b"")


def _decoded(backend: str, entry: Entry, data: bytes) -> Read:
    try:
        return Read(backend, entry, TaskRecord.decode(data))
    except ValueError as exc:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        return Read(backend, entry, None, f"not a task record: {exc}")


def _is_delete(headers: dict[str, str] | None) -> bool:
    return headers is not None and headers.get("KV-Operation") in ("DEL", "PURGE")


async def _delete_consumer(js: JetStreamContext, stream: str, name: str) -> None:
    # On failure SCAN_CONSUMER_TTL removes it anyway.
    with contextlib.suppress(TimeoutError, nats.errors.Error):
        await js.delete_consumer(stream, name)
