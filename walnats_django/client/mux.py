"""The request multiplexer: one `<inbox>.*` subscription for every PubAck, answer and API reply.

Every request on a connection shares it: no SUB/UNSUB per request. The last subject token
says what arrived: `a<token>` a PubAck, `r<token>` an answer, `e<stream>` the PubAck of a
fire-and-forget emit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from ..errors import RequestTimeout
from ..wire import HEADER_ACCEPT_ERRORS, HEADER_ACTOR, HEADER_DEADLINE, HEADER_ERROR, HEADER_REPLY
from .connect import jetstream_enabled
from .pending import Pending
from .probe import NoActorProbe
from .pubacks import (
    STREAM_NOT_FOUND,
    ack_problem,
    may_be_a_problem,
    no_responders,
    publish_error,
    stream_missing,
)
from .size import check_size
from .tokens import ReplyTokens

logger = logging.getLogger("walnats_django.client")

NO_LEADER_PAUSE = 0.05
"""Seconds before publishing again after "no responders" from an existing stream (doubling)."""
MAX_NO_LEADER_PAUSE = 0.5


class RequestMux:
    """Publishes requests and emits on `nc` and routes what comes back to their callers."""

    def __init__(self, nc: NATS, inbox: str) -> None:
        self.nc = nc
        self.inbox = inbox
        self._cut = len(inbox) + 1
        self._pending: dict[str, Pending] = {}
        self._tokens = ReplyTokens()
        self.probe = NoActorProbe(self._pending, self._stream_info)
        self._tasks: set[asyncio.Future[None]] = set()

    @property
    def waiting(self) -> int:
        """Requests (and waiting emits) still waiting for their PubAck or answer."""
        return len(self._pending)

    async def subscribe(self) -> None:
        """Start receiving on the inbox."""
        await self.nc.subscribe(self.inbox + ".*", cb=self._on_inbox)

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
        token = self._tokens.next()
        if expects_answer:
            headers[HEADER_REPLY] = f"{self.inbox}.r{token}"
            if HEADER_DEADLINE not in headers:  # a deadline already says "errors understood"
                headers[HEADER_ACCEPT_ERRORS] = "1"
        check_size(self.nc.max_payload, subject, payload, headers)
        future: asyncio.Future[Msg | None] = loop.create_future()
        pending = Pending(future, stream, expects_answer)
        pending.message = (subject, payload, headers)
        self._pending[token] = pending
        pending.timer = loop.call_later(timeout, self._on_timeout, token, timeout)
        try:
            await self.nc.publish(subject, payload, reply=f"{self.inbox}.a{token}", headers=headers or None)
            return await future
        except nats.errors.Error as exc:
            raise publish_error(exc) from exc
        finally:
            self._forget(token)

    async def publish_emit(
        self, subject: str, stream: str, payload: bytes, headers: dict[str, str] | None
    ) -> None:
        """Fire-and-forget publish; a failed PubAck is logged, not raised."""
        check_size(self.nc.max_payload, subject, payload, headers or {})
        try:
            await self.nc.publish(subject, payload, reply=f"{self.inbox}.e{stream}", headers=headers)
        except nats.errors.Error as exc:
            raise publish_error(exc) from exc

    async def api_request(self, subject: str, payload: bytes = b"", *, timeout: float) -> Msg:
        """A core NATS request answered on the muxed inbox (no extra subscription)."""
        token = self._tokens.next()
        future: asyncio.Future[Msg | None] = asyncio.get_running_loop().create_future()
        self._pending[token] = Pending(future, subject, expects_answer=True)
        try:
            await self.nc.publish(subject, payload, reply=f"{self.inbox}.r{token}")
            answer = await asyncio.wait_for(future, timeout)
        finally:
            self._forget(token)
        assert answer is not None
        return answer

    async def _stream_info(self, subject: str) -> Msg:
        return await self.api_request(subject, timeout=2.0)

    def fail_unacked(self, exc: BaseException) -> None:
        """Fail requests whose publish is unconfirmed; acked ones may still be answered."""
        for pending in list(self._pending.values()):
            if not pending.acked:
                pending.fail(exc)

    def fail_all(self, exc: BaseException) -> None:
        """Fail every pending request (the connection went away)."""
        for pending in list(self._pending.values()):
            pending.fail(exc)

    def _forget(self, token: str) -> None:
        pending = self._pending.pop(token, None)
        if pending is not None and pending.timer is not None:
            pending.timer.cancel()

    def _on_timeout(self, token: str, timeout: float) -> None:
        pending = self._pending.get(token)
        if pending is None:
            return
        if pending.acked:
            message = f"no answer within {timeout:g}s (stream {pending.stream!r})."
        elif pending.retries:
            message = (
                f"JetStream could not store the message within {timeout:g}s: stream {pending.stream!r} "
                f"had no leader ({pending.retries} publishes answered 'no responders'; a cluster "
                "election, or too many nodes down)."
            )
        else:
            message = f"no PubAck from JetStream within {timeout:g}s (stream {pending.stream!r})."
        pending.fail(RequestTimeout(message))

    async def _after_no_responders(self, token: str, pending: Pending) -> None:
        """A 503 PubAck: no stream, or no stream leader right now (a cluster election).

        The stream's info tells which; while it exists (or JetStream cannot say), publish
        again after a pause, until the caller's timeout ends the wait.
        """
        try:
            reply = await self.api_request(f"$JS.API.STREAM.INFO.{pending.stream}", timeout=1.0)
            missing = json.loads(reply.data).get("error", {}).get("err_code") == STREAM_NOT_FOUND
        except Exception:  # noqa: BLE001 - no answer either: JetStream itself is electing
            missing = False
        if missing:
            pending.fail(stream_missing(pending.stream))
            return
        await asyncio.sleep(min(NO_LEADER_PAUSE * 2**pending.retries, MAX_NO_LEADER_PAUSE))
        pending.retries += 1
        if token not in self._pending or not pending.waiting or pending.message is None:
            return
        subject, payload, headers = pending.message
        with contextlib.suppress(nats.errors.Error):  # a lost connection fails the request itself
            await self.nc.publish(subject, payload, reply=f"{self.inbox}.a{token}", headers=headers or None)

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
            headers = msg.headers
            if headers and HEADER_ERROR in headers:
                self._on_error_answer(pending, msg, headers)
            else:
                pending.succeed(msg)
        elif kind == "a":
            self._on_ack(key, pending, msg)

    def _on_error_answer(self, pending: Pending, msg: Msg, headers: dict[str, str]) -> None:
        """An actor gave up on the request: final once every actor of the event has.

        Several actors may handle one request event (the first success wins, as in walnats),
        so one actor's failure must not pre-empt another's answer.
        """
        if pending.error_answers is None:
            pending.error_answers = {}
        pending.error_answers.setdefault(headers.get(HEADER_ACTOR, "?"), msg)

        def decide(counted: asyncio.Future[int]) -> None:
            if not pending.waiting or pending.error_answers is None:
                return
            failed = counted.cancelled() or counted.exception() is not None
            if failed or len(pending.error_answers) >= counted.result():
                pending.succeed(next(iter(pending.error_answers.values())))

        self.probe.consumer_count(pending.stream).add_done_callback(decide)

    def _on_ack(self, token: str, pending: Pending, msg: Msg) -> None:
        if may_be_a_problem(msg):
            jetstream = jetstream_enabled(self.nc)
            if jetstream and no_responders(msg):
                retry = asyncio.ensure_future(self._after_no_responders(token, pending))
                self._tasks.add(retry)  # the loop keeps only weak references to tasks
                retry.add_done_callback(self._tasks.discard)
                return
            problem = ack_problem(
                msg, pending.stream, duplicate_ok=not pending.expects_answer, jetstream=jetstream
            )
            if problem is not None:
                pending.fail(problem)
                return
        pending.acked = True
        if not pending.expects_answer:
            # A duplicate emit is fine: the uid exists to make re-emits safe.
            pending.succeed(None)
        elif pending.waiting:
            self.probe.watch(token)

    def _on_emit_ack(self, stream: str, msg: Msg) -> None:
        problem = ack_problem(msg, stream, duplicate_ok=True, jetstream=jetstream_enabled(self.nc))
        if problem is not None:
            logger.error("Emit failed stream=%s error=%s", stream, problem)
