"""The results bucket: a JetStream key-value bucket holding one `TaskRecord` per result id.

Every write names the revision it replaces (compare-and-set), so a stale writer, such as an
old redelivery, can never overwrite a newer outcome: its write fails and it reads again.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time

import nats.errors
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RePublish, StorageType, StreamConfig
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NoStreamResponseError, NotFoundError
from nats.js.kv import KeyValue

from ..client import Connection, get_connection
from ..client.pubacks import jetstream_disabled
from ..conf import walnats_settings
from ..errors import NatsUnavailable, PayloadTooLarge
from ..jetstream import upsert_stream
from .errors import TaskWaitTimeout
from .records import FINISHED, TaskRecord, record_status

logger = logging.getLogger("walnats_django.tasks")

RESULT_ID = re.compile(r"[A-Za-z0-9_=-]{1,255}")
"""Result ids the bucket can hold as keys (KV keys also allow '.' and '/', which ids never use)."""
DUPLICATE_WINDOW = 120.0
REMOVAL_HEADERS = ("KV-Operation", "Nats-Marker-Reason")
"""Headers of a key's delete, purge or expiry marker (a record never has them)."""
RECONNECT_CHECK_EVERY = 1.0
"""Seconds between looks, while waiting, at whether the connection reconnected (missing writes)."""


_ENSURED: dict[tuple[str, float | None], set[int]] = {}
_REPUBLISHING: dict[str, set[int]] = {}


@dataclasses.dataclass(frozen=True)
class Stored:
    """A record as read from the bucket, with the revision a write must name to replace it."""

    record: TaskRecord
    revision: int


def is_result_id(value: object) -> bool:
    """Whether `value` can be a result id (a key of the bucket)."""
    return isinstance(value, str) and RESULT_ID.fullmatch(value) is not None


def check_record_size(data: bytes, max_payload: int) -> None:
    """`PayloadTooLarge` when an encoded record would not fit a server's `max_payload` (less room
    for subject and headers)."""
    limit = max_payload - 1024
    if len(data) > limit:
        raise PayloadTooLarge(
            f"the result takes {len(data)} bytes, over the {limit} the server's max_payload leaves; "
            "store large values elsewhere (a file, a model) and return a reference."
        )


class ResultStore:
    """One backend's results bucket, used on the running event loop's NATS connection."""

    def __init__(self, bucket: str, *, ttl: float | None) -> None:
        self.bucket = bucket
        self.stream = f"KV_{bucket}"
        self.ttl = ttl
        self.updates = f"_walnats.results.{bucket}"
        """Where JetStream republishes each write once stored (`<updates>.<result id>`), for wait()."""
        # Per process, not per instance: Django hands out a backend (and so a store) per thread
        # and per asyncio task, e.g. per ASGI request.
        self._ensured = _ENSURED.setdefault((bucket, ttl), set())
        """ids of the connections on which this process created or updated the bucket (with this TTL)."""
        self._republishing = _REPUBLISHING.setdefault(bucket, set())
        """ids of the connections on which this process saw the bucket republish its writes."""

    def config(self) -> StreamConfig:
        """The bucket's stream, as nats-py and the nats CLI make a KV bucket of history 1."""
        return StreamConfig(
            name=self.stream,
            subjects=[f"$KV.{self.bucket}.>"],
            description="Django task results (walnats_django.tasks.WalnatsBackend).",
            allow_direct=True,
            allow_rollup_hdrs=True,
            deny_delete=True,
            discard=DiscardPolicy.NEW,
            duplicate_window=min(DUPLICATE_WINDOW, self.ttl or DUPLICATE_WINDOW),
            max_age=self.ttl,
            max_msgs_per_subject=1,
            num_replicas=walnats_settings.REPLICAS,
            republish=RePublish(src=f"$KV.{self.bucket}.>", dest=f"{self.updates}.>"),
            storage=StorageType.FILE,
        )

    async def _connection(self) -> Connection:
        conn = await get_connection(walnats_settings.REQUEST_TIMEOUT)
        if not conn.jetstream_enabled:
            raise jetstream_disabled()
        return conn

    def _kv(self, js: JetStreamContext) -> KeyValue:
        return KeyValue(name=self.bucket, stream=self.stream, pre=f"$KV.{self.bucket}.", js=js, direct=True)

    async def ensure(self) -> None:
        """Create the bucket, or bring its TTL (and REPLICAS, when the project sets it) up to date."""
        conn = await self._connection()
        declared: dict[str, object] = {
            "max_age": int(self.ttl * 1_000_000_000) if self.ttl else 0,
            "republish": {"src": f"$KV.{self.bucket}.>", "dest": f"{self.updates}.>"},
        }
        if walnats_settings.REPLICAS_SET:
            declared["num_replicas"] = walnats_settings.REPLICAS
        try:
            await upsert_stream(conn.js, self.config(), declared, what=f"the results bucket {self.bucket!r}")
        except nats.errors.Error as exc:
            raise _unavailable(exc) from exc
        self._ensured.add(id(conn))

    async def ensure_once(self) -> None:
        """`ensure()` once per connection (a worker applies the current OPTIONS on its first task)."""
        conn = await self._connection()
        if id(conn) not in self._ensured:
            await self.ensure()

    async def read(self, result_id: str) -> Stored | None:
        """The stored record, or None when there is none (or no bucket yet)."""
        found = await self._read_encoded(result_id)
        return None if found is None else Stored(TaskRecord.decode(found[0]), found[1])

    async def _read_encoded(self, result_id: str) -> tuple[bytes, int] | None:
        """The stored record as JSON with its revision, or None when there is none."""
        if not is_result_id(result_id):
            return None
        conn = await self._connection()
        try:
            entry = await self._kv(conn.js).get(result_id, validate_keys=False)
        except KeyNotFoundError:
            return None
        except nats.errors.NoRespondersError:
            if await self._missing(conn.js):
                return None
            raise NatsUnavailable(
                f"JetStream did not answer for the results bucket {self.bucket!r} (no leader right "
                "now?); retry shortly."
            ) from None
        except nats.errors.Error as exc:
            raise _unavailable(exc) from exc
        assert entry.value is not None
        assert entry.revision is not None
        return entry.value, entry.revision

    async def size_limit(self) -> int:
        """The most bytes a record may take: the server's max_payload, less room for subject and headers."""
        conn = await self._connection()
        return conn.nc.max_payload - 1024

    async def write(self, record: TaskRecord, revision: int) -> int | None:
        """Store `record` over `revision` (0: only if no record exists); the new revision, or None
        when another write came first. Creates the bucket when it is missing."""
        data = record.encode()
        conn = await self._connection()
        check_record_size(data, conn.nc.max_payload)
        for _ in range(2):
            try:
                return await self._kv(conn.js).update(record.id, data, last=revision, validate_keys=False)
            except KeyWrongLastSequenceError:
                return None
            except NoStreamResponseError:
                await self.ensure()
            except nats.errors.Error as exc:
                raise _unavailable(exc) from exc
        raise NatsUnavailable(f"the results bucket {self.bucket!r} could not be created; is JetStream full?")

    async def wait_finished(self, result_id: str, timeout: float) -> TaskRecord | None:
        """The record once it is finished, watching its key (no polling); None if there is none.

        The bucket republishes each write once stored (never a rejected compare-and-set write),
        so a core subscription follows the key with no consumer to create and delete. It is made
        before the key is read: no write after the read is missed. `TaskWaitTimeout` after
        `timeout` seconds, naming the status it still has.
        """
        deadline = time.monotonic() + timeout
        if not is_result_id(result_id):
            return None
        conn = await self._connection()
        try:
            sub = await conn.nc.subscribe(f"{self.updates}.{result_id}")
        except nats.errors.Error as exc:
            raise _unavailable(exc) from exc
        try:
            return await self._follow(conn, sub, result_id, deadline, timeout)
        finally:
            await _unsubscribe(sub)

    async def _follow(
        self, conn: Connection, sub: Subscription, result_id: str, deadline: float, timeout: float
    ) -> TaskRecord | None:
        # Only a finished record is decoded whole; the others are looked at for their status.
        reconnects = conn.nc.stats["reconnects"]
        current = await self._read_encoded(result_id)
        status = "" if current is None else record_status(current[0])
        if status not in FINISHED:
            await self._ensure_republishing(conn)
        while True:
            if current is None:
                return None
            if status in FINISHED:
                record = TaskRecord.decode(current[0])
                if record.is_finished:
                    return record
            left = deadline - time.monotonic()
            if left <= 0:
                raise TaskWaitTimeout(
                    f"task result {result_id!r} did not finish within {timeout:g}s (status "
                    f"{status}); it may still finish: wait again, or refresh() later."
                )
            try:
                msg = await sub.next_msg(timeout=min(left, RECONNECT_CHECK_EVERY))
            except nats.errors.TimeoutError:
                # Writes stored while the connection was down never reach the subscription.
                if conn.nc.stats["reconnects"] != reconnects:
                    reconnects = conn.nc.stats["reconnects"]
                    current = await self._read_encoded(result_id)
                    status = "" if current is None else record_status(current[0])
                continue
            except nats.errors.ConnectionClosedError as exc:
                raise _unavailable(exc) from exc
            if _removes(msg):
                return None  # deleted or expired
            revision = int((msg.headers or {}).get("Nats-Sequence", 0))
            if revision > current[1]:
                current = (msg.data, revision)
                status = record_status(msg.data)

    async def _ensure_republishing(self, conn: Connection) -> None:
        """Bring a bucket made before writes were republished up to date (once per connection),
        or its waits would see no writes."""
        if id(conn) in self._republishing or id(conn) in self._ensured:
            return
        try:
            info = await conn.js._api_request(
                f"{conn.js._prefix}.STREAM.INFO.{self.stream}", b"", timeout=conn.js._timeout
            )
        except nats.errors.Error as exc:
            raise _unavailable(exc) from exc
        if info["config"].get("republish", {}).get("dest") != f"{self.updates}.>":
            await self.ensure()
        self._republishing.add(id(conn))

    async def _missing(self, js: JetStreamContext) -> bool:
        try:
            await js.stream_info(self.stream)
        except NotFoundError:
            return True
        except nats.errors.Error:
            return False
        return False


async def _unsubscribe(sub: Subscription) -> None:
    try:
        await sub.unsubscribe()
    except nats.errors.Error as exc:  # a closed connection has no subscriptions left to end
        logger.debug("Ending a result watch failed: %r", exc)


def _removes(msg: Msg) -> bool:
    """Whether a write to a key deletes or purges it (or marks its expiry)."""
    return not msg.data or any(name in (msg.headers or {}) for name in REMOVAL_HEADERS)


def _unavailable(exc: nats.errors.Error) -> NatsUnavailable:
    return NatsUnavailable(f"the results bucket is unreachable: {type(exc).__name__}: {exc}; retry later.")
