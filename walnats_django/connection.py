"""One NATS connection per event loop, with one muxed inbox for PubAcks and answers.

Every request on a loop shares the connection and a single `<inbox>.*` subscription:
no SUB/UNSUB per request. The PubAck and the actor's answer both arrive there.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import importlib.util
import json
import logging
import os
import ssl
import time
import weakref
from typing import Any

import nats
import nats.errors
from django.core.exceptions import ImproperlyConfigured
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.nuid import NUID

from .conf import settings_generation, walnats_settings
from .errors import (
    DuplicateRequest,
    EventNotRegistered,
    NatsUnavailable,
    NoActors,
    PayloadTooLarge,
    PublishRejected,
    RequestTimeout,
)
from .wire import HEADER_ACCEPT_ERRORS, HEADER_DEADLINE, HEADER_REPLY, encoded_size

logger = logging.getLogger("walnats_django.connection")

NO_ACTORS_PROBE_AFTER = 0.02
"""Seconds without an answer before checking whether the stream has any consumer."""
CONSUMER_COUNT_TTL = 1.0
"""Seconds a looked-up consumer count is trusted."""
TOKEN_RANDOM_BYTES = 6
"""Random bytes in each reply token (48 bits)."""
NKEYS_MISSING = (
    "NATS_CREDS and NATS_NKEY_SEED need the nkeys package (nats-py signs with it): "
    "pip install 'walnats-django[nkeys]' (or nkeys)."
)


def connect_options(**overrides: Any) -> dict[str, Any]:
    """Keyword arguments for `nats.connect()` from the settings; reconnect forever by default."""
    options: dict[str, Any] = {
        "name": "walnats-django",
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "connect_timeout": walnats_settings.CONNECT_TIMEOUT,
    }
    options.update(credentials_from_env())
    options.update(walnats_settings.CONNECT_OPTIONS)
    options.update(overrides)
    options["servers"] = walnats_settings.SERVERS
    options["inbox_prefix"] = walnats_settings.INBOX_PREFIX
    return options


def credentials_from_env() -> dict[str, Any]:
    """Credentials from the environment, so they never live in settings files.

    `NATS_CREDS` (a .creds file), `NATS_TOKEN`, `NATS_NKEY_SEED` (a seed file), and
    `NATS_TLS_CA` / `NATS_TLS_CERT` / `NATS_TLS_KEY` (PEM files). User and password go in
    `NATS_URL` (`nats://user:pass@host:4222`).
    """
    env = os.environ
    options: dict[str, Any] = {}
    if nkeys_missing():
        raise ImproperlyConfigured(NKEYS_MISSING)
    if env.get("NATS_CREDS"):
        options["user_credentials"] = env["NATS_CREDS"]
    if env.get("NATS_TOKEN"):
        options["token"] = env["NATS_TOKEN"]
    if env.get("NATS_NKEY_SEED"):
        options["nkeys_seed"] = env["NATS_NKEY_SEED"]
    if env.get("NATS_TLS_CA") or env.get("NATS_TLS_CERT"):
        context = ssl.create_default_context(cafile=env.get("NATS_TLS_CA") or None)
        if env.get("NATS_TLS_CERT"):
            context.load_cert_chain(env["NATS_TLS_CERT"], env.get("NATS_TLS_KEY") or None)
        options["tls"] = context
    return options


def nkeys_missing() -> bool:
    """Whether NATS_CREDS or NATS_NKEY_SEED is set but nats-py cannot sign (no nkeys package)."""
    wanted = os.environ.get("NATS_CREDS") or os.environ.get("NATS_NKEY_SEED")
    return bool(wanted) and importlib.util.find_spec("nkeys") is None


async def open_nats(timeout: float, **callbacks: Any) -> NATS:
    """Connect, failing with `NatsUnavailable` once every server refused or `timeout` passed.

    nats-py retries the initial connect forever when reconnects are unlimited; we stop
    as soon as each server has failed once, so a caller learns "NATS is down" at once.
    """
    options = connect_options(**callbacks)
    servers = options["servers"]
    loop = asyncio.get_running_loop()
    failed: asyncio.Future[None] = loop.create_future()
    errors: list[BaseException] = []
    user_error_cb = options.pop("error_cb", None)

    async def error_cb(exc: Exception) -> None:
        if not failed.done() and not nc.is_connected and len(errors) < len(servers):
            errors.append(exc)
            if len(errors) == len(servers):
                failed.set_result(None)
        elif isinstance(exc, OSError | asyncio.TimeoutError):
            logger.debug("NATS connection attempt failed: %r", exc)
        else:
            logger.warning("NATS error: %s: %s", type(exc).__name__, exc)
        if user_error_cb is not None:
            await user_error_cb(exc)

    nc = NATS()
    connecting: asyncio.Future[None] = asyncio.ensure_future(nc.connect(error_cb=error_cb, **options))
    try:
        done, _ = await asyncio.wait(
            [connecting, failed], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
    except asyncio.CancelledError:
        # Unlimited reconnects would keep a cancelled connect retrying forever.
        await asyncio.shield(_abandon(connecting, nc))
        raise
    if connecting in done and connecting.exception() is None:
        if not failed.done():
            failed.set_result(None)
        return nc
    await _abandon(connecting, nc)
    cause = errors[-1] if errors else (connecting.exception() if connecting in done else None)
    shown = ", ".join(_redact(s) for s in servers)
    reason = f"{type(cause).__name__}: {cause}" if cause else f"no answer within {timeout:g}s"
    raise NatsUnavailable(f"cannot connect to NATS at {shown} ({reason}).") from cause


async def _abandon(connecting: asyncio.Future[None], nc: NATS) -> None:
    connecting.cancel()
    with contextlib.suppress(Exception):
        await nc.close()


async def close_nats(nc: NATS, drain_timeout: float = 2.0) -> None:
    """Drain when connected (flushes pending publishes and acks), else just close.

    The drain is bounded: a server that died a moment ago never answers its PING.
    """
    if nc.is_closed:
        return
    # A reconnect attempt racing with close() can survive its cancellation (asyncio.wait_for
    # in 3.11 swallows it) and retry forever on a closed client; forbid reconnects first.
    nc.options["allow_reconnect"] = False
    if nc.is_connected:
        try:
            await asyncio.wait_for(nc.drain(), drain_timeout)
        except (Exception, TimeoutError) as exc:  # noqa: BLE001 - closing anyway
            logger.debug("Drain failed, closing: %r", exc)
    if not nc.is_closed:
        await nc.close()
    reconnecting: asyncio.Task[None] | None = getattr(nc, "_reconnection_task", None)
    for _ in range(20):
        if reconnecting is None or reconnecting.done():
            break
        reconnecting.cancel()
        await asyncio.wait({reconnecting}, timeout=0.1)


def _redact(url: str) -> str:
    at = url.rfind("@")
    scheme = url.find("://")
    return url if at < 0 else url[: scheme + 3] + "***" + url[at:]


class _Pending:
    """A request or synchronous emit waiting for its PubAck and (for requests) its answer."""

    __slots__ = ("acked", "expects_answer", "future", "stream", "timer")

    def __init__(self, future: asyncio.Future[Msg | None], stream: str, expects_answer: bool) -> None:
        self.future = future
        self.stream = stream
        self.expects_answer = expects_answer
        self.acked = False
        self.timer: asyncio.TimerHandle | None = None

    def fail(self, exc: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(exc)


class Connection:
    """A NATS connection bound to one event loop, with the muxed reply inbox."""

    def __init__(self, nc: NATS, inbox: str) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.inbox = inbox
        self._cut = len(inbox) + 1
        self._pending: dict[str, _Pending] = {}
        self._counter = 0
        self._random = b""
        self._random_at = 0
        self.closing = False
        self.generation = settings_generation.value
        self._consumer_counts: dict[str, tuple[float, asyncio.Future[int]]] = {}
        # (acked at, token) of requests waiting for an answer, in ack order; tokens, not the
        # requests: holding answered requests for 20 ms cost more in GC than the lookups.
        self._awaiting_answer: collections.deque[tuple[float, str]] = collections.deque()
        self._probe_timer: asyncio.TimerHandle | None = None

    @classmethod
    async def open(cls, timeout: float) -> Connection:
        """Connect and subscribe the muxed inbox."""
        holder: list[Connection] = []

        async def disconnected_cb() -> None:
            if holder and not holder[0].closing:
                logger.warning("Disconnected from NATS; requests fail fast until it is back")
                holder[0].fail_unacked(NatsUnavailable("the connection to NATS was lost."))

        async def reconnected_cb() -> None:
            logger.info("Reconnected to NATS")

        async def closed_cb() -> None:
            if holder:
                holder[0].fail_all(NatsUnavailable("the connection to NATS closed for good."))

        nc = await open_nats(
            timeout, disconnected_cb=disconnected_cb, reconnected_cb=reconnected_cb, closed_cb=closed_cb
        )
        inbox = f"{walnats_settings.INBOX_PREFIX}.{NUID().next().decode()}"
        conn = cls(nc, inbox)
        holder.append(conn)
        try:
            await nc.subscribe(inbox + ".*", cb=conn._on_inbox)
        except BaseException:
            await asyncio.shield(close_nats(nc))
            raise
        return conn

    @property
    def usable(self) -> bool:
        """Connected right now (not closed, not reconnecting)."""
        return self.nc.is_connected

    def _token(self) -> str:
        # Unique by the counter, unguessable by the random part: anyone who may publish under
        # the inbox prefix and saw one reply subject must not be able to forge another's answer.
        # The random bytes come from os.urandom in blocks: one system call per 512 tokens.
        self._counter += 1
        at = self._random_at
        if at >= len(self._random):
            self._random = os.urandom(TOKEN_RANDOM_BYTES * 512)
            at = 0
        self._random_at = at + TOKEN_RANDOM_BYTES
        return f"{self._counter:x}{self._random[at : at + TOKEN_RANDOM_BYTES].hex()}"

    async def publish_and_wait(
        self,
        subject: str,
        stream: str,
        payload: bytes,
        headers: dict[str, str],
        *,
        timeout: float,
        expects_answer: bool,
    ) -> Msg | None:
        """Publish to JetStream and wait for the answer (or, for emits, the PubAck).

        The publish's reply subject is our inbox, so the PubAck arrives on the muxed
        subscription too; we do not wait for it before waiting for the answer.
        """
        loop = asyncio.get_running_loop()
        token = self._token()
        if expects_answer:
            headers[HEADER_REPLY] = f"{self.inbox}.r{token}"
            if HEADER_DEADLINE not in headers:  # a deadline already says "errors understood"
                headers[HEADER_ACCEPT_ERRORS] = "1"
        self._check_size(subject, payload, headers)
        future: asyncio.Future[Msg | None] = loop.create_future()
        pending = _Pending(future, stream, expects_answer)
        self._pending[token] = pending
        pending.timer = loop.call_later(timeout, self._on_timeout, token, timeout)
        try:
            await self.nc.publish(subject, payload, reply=f"{self.inbox}.a{token}", headers=headers or None)
            return await future
        except nats.errors.Error as exc:
            raise _publish_error(exc) from exc
        finally:
            self._forget(token)

    async def publish_emit(
        self, subject: str, stream: str, payload: bytes, headers: dict[str, str] | None
    ) -> None:
        """Fire-and-forget publish; a failed PubAck is logged, not raised."""
        self._check_size(subject, payload, headers or {})
        try:
            await self.nc.publish(subject, payload, reply=f"{self.inbox}.e{stream}", headers=headers)
        except nats.errors.Error as exc:
            raise _publish_error(exc) from exc

    def _check_size(self, subject: str, payload: bytes, headers: dict[str, str]) -> None:
        # A cheap upper bound first (a character takes at most 4 bytes in UTF-8).
        bound = len(payload) + 16
        for key, value in headers.items():
            bound += 4 * (len(key) + len(value) + 4)
        if bound <= self.nc.max_payload:
            return
        size = len(payload) + encoded_size(headers)
        if size > self.nc.max_payload:
            raise PayloadTooLarge(
                f"the message for {subject!r} takes {size} bytes with headers, over the server's "
                f"max_payload of {self.nc.max_payload}; send a reference (e.g. a URL or an id) instead."
            )

    def _forget(self, token: str) -> None:
        pending = self._pending.pop(token, None)
        if pending is not None and pending.timer is not None:
            pending.timer.cancel()

    def _on_timeout(self, token: str, timeout: float) -> None:
        pending = self._pending.get(token)
        if pending is None:
            return
        what = "answer" if pending.acked else "PubAck from JetStream"
        pending.fail(RequestTimeout(f"no {what} within {timeout:g}s (stream {pending.stream!r})."))

    def fail_unacked(self, exc: BaseException) -> None:
        """Fail requests whose publish is unconfirmed; acked ones may still be answered."""
        for pending in list(self._pending.values()):
            if not pending.acked:
                pending.fail(exc)

    async def _on_inbox(self, msg: Msg) -> None:
        token = msg.subject[self._cut :]
        kind, key = token[:1], token[1:]
        if kind == "e":
            self._on_emit_ack(key, msg)
            return
        pending = self._pending.get(key)
        if pending is None:
            return
        if kind == "r":
            if not pending.future.done():
                pending.future.set_result(msg)
        elif kind == "a":
            self._on_ack(key, pending, msg)

    def _on_ack(self, token: str, pending: _Pending, msg: Msg) -> None:
        # A plain success PubAck is `{"stream":..,"seq":..}`: parse only what may be a problem.
        data = msg.data
        if msg.headers or b'"error"' in data or b'"duplicate"' in data:
            problem = _ack_problem(msg, pending.stream, duplicate_ok=not pending.expects_answer)
            if problem is not None:
                pending.fail(problem)
                return
        pending.acked = True
        if not pending.expects_answer:
            # A duplicate emit is fine: the uid exists to make re-emits safe.
            if not pending.future.done():
                pending.future.set_result(None)
        elif not pending.future.done():
            self._awaiting_answer.append((time.monotonic(), token))
            if self._probe_timer is None:
                self._probe_timer = asyncio.get_running_loop().call_later(
                    NO_ACTORS_PROBE_AFTER, self._probe_slow_requests
                )

    def _probe_slow_requests(self) -> None:
        """Check for actors behind requests acked but unanswered for `NO_ACTORS_PROBE_AFTER`.

        One timer for all requests, walking a queue in ack order: no timer per request.
        """
        self._probe_timer = None
        now = time.monotonic()
        queue = self._awaiting_answer
        while queue and now - queue[0][0] >= NO_ACTORS_PROBE_AFTER:
            pending = self._pending.get(queue.popleft()[1])
            if pending is not None and not pending.future.done():
                self._probe_actors(pending)
        if queue:
            self._probe_timer = asyncio.get_running_loop().call_later(
                max(queue[0][0] + NO_ACTORS_PROBE_AFTER - now, 0.001), self._probe_slow_requests
            )

    def _on_emit_ack(self, subject: str, msg: Msg) -> None:
        problem = _ack_problem(msg, subject, duplicate_ok=True)
        if problem is not None:
            logger.error("Emit failed subject=%s error=%s", subject, problem)

    def _probe_actors(self, pending: _Pending) -> None:
        def check(counted: asyncio.Future[int]) -> None:
            if counted.cancelled():
                return
            if (exc := counted.exception()) is not None:
                logger.debug("No-actor probe failed stream=%s error=%r", pending.stream, exc)
                return
            if counted.result() == 0:
                pending.fail(
                    NoActors(
                        f"stream {pending.stream!r} has no actor consumer, so nobody will answer; "
                        "start `manage.py runactors` with an actor for this event."
                    )
                )

        self.consumer_count(pending.stream).add_done_callback(check)

    def consumer_count(self, stream: str) -> asyncio.Future[int]:
        """The stream's consumer count, looked up at most once per `CONSUMER_COUNT_TTL`."""
        now = time.monotonic()
        cached = self._consumer_counts.get(stream)
        if cached is not None and (
            not cached[1].done()
            or (
                now - cached[0] < CONSUMER_COUNT_TTL
                and cached[1].exception() is None
                and cached[1].result() > 0
            )
        ):
            # Share a lookup in flight, or trust a fresh positive count; a zero is always
            # looked up again, since an actor may have just appeared.
            return cached[1]
        future = asyncio.ensure_future(self._lookup_consumer_count(stream))
        self._consumer_counts[stream] = (now, future)
        return future

    async def _lookup_consumer_count(self, stream: str) -> int:
        reply = await self.api_request(f"$JS.API.STREAM.INFO.{stream}", timeout=2.0)
        info = json.loads(reply.data)
        if "error" in info:
            raise PublishRejected(f"stream info for {stream!r} failed: {info['error']}")
        return int(info["state"]["consumer_count"])

    async def api_request(self, subject: str, payload: bytes = b"", *, timeout: float) -> Msg:
        """A core NATS request answered on the muxed inbox (no extra subscription)."""
        token = self._token()
        future: asyncio.Future[Msg | None] = asyncio.get_running_loop().create_future()
        self._pending[token] = _Pending(future, subject, expects_answer=True)
        try:
            await self.nc.publish(subject, payload, reply=f"{self.inbox}.r{token}")
            answer = await asyncio.wait_for(future, timeout)
        finally:
            self._forget(token)
        assert answer is not None
        return answer

    async def close(self) -> None:
        """Drain and close; pending requests fail with `NatsUnavailable`."""
        self.closing = True
        if self._probe_timer is not None:
            self._probe_timer.cancel()
            self._probe_timer = None
        self.fail_all(NatsUnavailable("the NATS connection was closed."))
        await close_nats(self.nc)

    def fail_all(self, exc: BaseException) -> None:
        """Fail every pending request (used when the connection goes away)."""
        for pending in list(self._pending.values()):
            pending.fail(exc)


def _ack_problem(msg: Msg, stream: str, *, duplicate_ok: bool = False) -> Exception | None:
    headers = msg.headers
    if headers and headers.get("Status") == "503":
        return EventNotRegistered(
            f"no JetStream stream captures subject of stream {stream!r}; run "
            "`manage.py runactors` once (it creates streams), or check the event name."
        )
    try:
        ack = json.loads(msg.data)
    except ValueError:
        return PublishRejected(f"unreadable PubAck from JetStream: {msg.data[:200]!r}")
    error = ack.get("error")
    if error:
        return PublishRejected(
            f"JetStream rejected the message for stream {stream!r}: {error.get('description')} "
            f"(err_code {error.get('err_code')}); check the event's Limits and the payload size.",
            code=error.get("err_code"),
        )
    if ack.get("duplicate") and not duplicate_ok:
        return DuplicateRequest(
            f"a message with this uid was already accepted by stream {stream!r} (seq "
            f"{ack.get('seq')}) within the de-duplication window; use a new uid."
        )
    return None


def _publish_error(exc: nats.errors.Error) -> Exception:
    if isinstance(exc, nats.errors.MaxPayloadError):
        return PayloadTooLarge(f"the message is larger than the server's max_payload: {exc}")
    return NatsUnavailable(f"NATS refused the publish: {type(exc).__name__}: {exc}")


class _LoopSlot:
    __slots__ = ("conn", "lock")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.conn: Connection | None = None


_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopSlot] = weakref.WeakKeyDictionary()


async def get_connection(timeout: float) -> Connection:
    """The running loop's connection, made on first use and remade after it closed."""
    loop = asyncio.get_running_loop()
    slot = _slots.get(loop)
    if slot is None:
        _forget_closed_loops()
        slot = _slots[loop] = _LoopSlot()
    conn = slot.conn
    if conn is not None and conn.nc.is_connected and conn.generation == settings_generation.value:
        return conn
    try:
        async with asyncio.timeout(timeout):
            return await _connect_slot(slot, timeout)
    except TimeoutError:
        raise NatsUnavailable(f"no NATS connection within {timeout:g}s; is NATS up?") from None


async def _connect_slot(slot: _LoopSlot, timeout: float) -> Connection:
    async with slot.lock:
        conn = slot.conn
        if conn is not None and conn.generation != settings_generation.value:
            slot.conn = None
            await conn.close()
            conn = None
        if conn is not None:
            if conn.nc.is_connected:
                return conn
            if not conn.nc.is_closed:
                raise NatsUnavailable(
                    "NATS is unreachable right now (reconnecting in the background); retry later."
                )
            slot.conn = None
        slot.conn = await Connection.open(timeout)
        return slot.conn


async def close_connection() -> None:
    """Close the running loop's connection, if any (ASGI lifespan shutdown, tests)."""
    slot = _slots.get(asyncio.get_running_loop())
    if slot is not None and slot.conn is not None:
        conn, slot.conn = slot.conn, None
        await conn.close()


def _forget_closed_loops() -> None:
    for loop in [lp for lp in _slots if lp.is_closed()]:
        _slots.pop(loop, None)
