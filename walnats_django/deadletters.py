"""Dead letters: messages that failed `max_attempts` times or could not be decoded.

They are kept in a JetStream stream of their own (no database needed), one message per
dead letter, and can be listed, shown, replayed (to the one actor that failed) and purged.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime
import json
import logging
import uuid
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from .conf import walnats_settings
from .errors import DeadLetterError
from .jetstream import upsert_stream
from .wire import (
    HEADER_ACCEPT_ERRORS,
    HEADER_DEADLINE,
    HEADER_DELAY,
    HEADER_MSG_ID,
    HEADER_REPLAY_FOR,
    HEADER_REPLY,
    encoded_size,
)

logger = logging.getLogger("walnats_django.deadletters")

STREAM = "walnats-dead-letters"
SUBJECT_PREFIX = "walnats-dead-letters"
MAX_PAYLOAD_KEPT = 8 * 1024 * 1024
"""Payload bytes kept per dead letter (also cut to the server's max_payload); a truncated
payload cannot be replayed."""
MAX_AGE = 30 * 24 * 3600.0
"""Seconds a dead letter is kept."""
_DROPPED_HEADERS = {
    HEADER_REPLY,
    HEADER_ACCEPT_ERRORS,
    HEADER_DEADLINE,
    HEADER_DELAY,
    HEADER_MSG_ID,
    HEADER_REPLAY_FOR,
}


def stream_config() -> StreamConfig:
    """A limits-retention file stream; old dead letters age out after `MAX_AGE`."""
    return StreamConfig(
        name=STREAM,
        subjects=[f"{SUBJECT_PREFIX}.>"],
        description="walnats-django dead letters (see `manage.py deadletters`).",
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        storage=StorageType.FILE,
        num_replicas=walnats_settings.REPLICAS,
        max_age=MAX_AGE,
    )


@dataclasses.dataclass(frozen=True)
class DeadLetter:
    """One failed message, with what is needed to understand and replay it."""

    event: str
    actor: str
    stream: str
    stream_seq: int
    attempts: int
    error: str
    headers: dict[str, str]
    payload: bytes
    payload_size: int
    failed_at: str
    seq: int = 0
    """Sequence in the dead-letter stream (0 until stored)."""
    published_us: int = 0
    """When JetStream stored the original message (epoch microseconds; 0 if unknown)."""

    @property
    def truncated(self) -> bool:
        return len(self.payload) < self.payload_size

    @property
    def error_type(self) -> str:
        """The exception's class name (the text before the first colon of `error`)."""
        return self.error.split(":", 1)[0].strip() or "?"

    def to_message(self, max_payload: int) -> tuple[dict[str, str], bytes]:
        """Headers (metadata, original headers) and body (the payload, cut to fit max_payload).

        The payload travels raw, not inside JSON, so a message that fitted the server fits
        again; only the metadata headers are added.
        """
        headers = {
            f"{_META}Event": self.event,
            f"{_META}Actor": self.actor,
            f"{_META}Stream": self.stream,
            f"{_META}Stream-Seq": str(self.stream_seq),
            f"{_META}Attempts": str(self.attempts),
            f"{_META}Error": _one_line(self.error),
            f"{_META}Payload-Size": str(self.payload_size),
            f"{_META}Failed-At": self.failed_at,
            f"{_META}Published-Us": str(self.published_us),
            f"{_META}Headers": json.dumps(self.headers, separators=(",", ":"), ensure_ascii=True),
            # The same message failing again (a crash before its term) is de-duplicated; the
            # publish time tells apart a re-created stream's message with the same sequence.
            HEADER_MSG_ID: f"dl:{self.stream}:{self.stream_seq}:{self.published_us}:{self.actor}",
        }
        room = max_payload - encoded_size(headers) - 64
        if room < 0:
            headers[f"{_META}Headers"] = "{}"
            room = max_payload - encoded_size(headers) - 64
        return headers, self.payload[: max(room, 0)]

    @classmethod
    def from_message(cls, headers: dict[str, str], body: bytes, seq: int) -> DeadLetter:
        def meta(name: str) -> str:
            return headers.get(f"{_META}{name}", "")

        return cls(
            event=meta("Event"),
            actor=meta("Actor"),
            stream=meta("Stream"),
            stream_seq=int(meta("Stream-Seq") or 0),
            attempts=int(meta("Attempts") or 0),
            error=meta("Error"),
            headers=json.loads(meta("Headers") or "{}"),
            payload=body,
            payload_size=int(meta("Payload-Size") or len(body)),
            failed_at=meta("Failed-At"),
            seq=seq,
            published_us=int(meta("Published-Us") or 0),
        )


_META = "Walnats-Dl-"


def _one_line(text: str) -> str:
    return " ".join(text.split())[:1024]


def make(
    *,
    event: str,
    actor: str,
    stream: str,
    stream_seq: int,
    attempts: int,
    error: str,
    headers: dict[str, str] | None,
    payload: bytes,
    published_us: int = 0,
) -> DeadLetter:
    """A dead letter for a message that just failed for good."""
    return DeadLetter(
        event=event,
        actor=actor,
        stream=stream,
        stream_seq=stream_seq,
        attempts=attempts,
        error=error[:4096],
        headers=dict(headers or {}),
        payload=payload[:MAX_PAYLOAD_KEPT],
        payload_size=len(payload),
        failed_at=datetime.datetime.now(datetime.UTC).isoformat(),
        published_us=published_us,
    )


async def ensure_stream(js: JetStreamContext) -> None:
    """Create the dead-letter stream, or scale it to `WALNATS["REPLICAS"]` when the project sets that."""
    declared = {"num_replicas": walnats_settings.REPLICAS} if walnats_settings.REPLICAS_SET else {}
    await upsert_stream(js, stream_config(), declared, what="the dead-letter stream")


async def record(js: JetStreamContext, letter: DeadLetter, max_payload: int) -> int:
    """Store a dead letter and return its sequence (raises if JetStream did not store it)."""
    subject = f"{SUBJECT_PREFIX}.{letter.stream}.{letter.actor}"
    headers, body = letter.to_message(max_payload)
    ack = await js.publish(subject, body, headers=headers)
    return int(ack.seq)


async def get(js: JetStreamContext, seq: int) -> DeadLetter:
    """The dead letter with sequence `seq`."""
    try:
        msg = await js.get_msg(STREAM, seq)
    except NotFoundError:
        raise DeadLetterError(f"no dead letter with sequence {seq}.") from None
    return DeadLetter.from_message(dict(msg.headers or {}), msg.data or b"", seq)


async def list_all(
    js: JetStreamContext, *, event: str | None = None, actor: str | None = None, limit: int | None = None
) -> list[DeadLetter]:
    """Dead letters oldest first, optionally only one event's or actor's."""
    try:
        info = await js.stream_info(STREAM)
    except NotFoundError:
        return []
    letters: list[DeadLetter] = []
    seq = info.state.first_seq
    while seq and seq <= info.state.last_seq and (limit is None or len(letters) < limit):
        try:
            letter = await get(js, seq)
        except DeadLetterError:
            seq += 1
            continue
        if (event is None or letter.event == event) and (actor is None or letter.actor == actor):
            letters.append(letter)
        seq += 1
    return letters


@dataclasses.dataclass(frozen=True)
class Page:
    """Dead letters newest first, from a bounded window of the stream."""

    letters: list[DeadLetter]
    older: int | None
    """Pass as `before` for the next (older) page; None when the stream has nothing older."""
    total: int
    """Dead letters in the stream, all of them."""


READ_AT_ONCE = 50
"""Dead letters fetched concurrently while scanning."""


async def newest(
    js: JetStreamContext,
    *,
    event: str | None = None,
    actor: str | None = None,
    error_type: str | None = None,
    before: int | None = None,
    limit: int = 50,
    scan: int = 500,
) -> Page:
    """Up to `limit` dead letters, newest first, matching the filters, with sequences below `before`.

    Reads at most `scan` sequences, so a page stays fast however many letters the stream keeps.
    """
    try:
        info = await js.stream_info(STREAM)
    except NotFoundError:
        return Page([], None, 0)
    low = max(info.state.first_seq, 1)
    seq = info.state.last_seq if before is None else min(before - 1, info.state.last_seq)
    letters: list[DeadLetter] = []
    budget = scan
    while seq >= low and budget > 0 and len(letters) < limit:
        batch = range(seq, seq - min(READ_AT_ONCE, budget, seq - low + 1), -1)
        budget -= len(batch)
        found = await asyncio.gather(*(_get_or_none(js, s) for s in batch))
        seq = batch[-1] - 1
        for letter in found:
            if letter is not None and _matches(letter, event, actor, error_type):
                letters.append(letter)
                if len(letters) == limit:
                    seq = letter.seq - 1
                    break
    return Page(letters, seq + 1 if seq >= low else None, int(info.state.messages))


def _matches(letter: DeadLetter, event: str | None, actor: str | None, error_type: str | None) -> bool:
    return (
        (event is None or letter.event == event)
        and (actor is None or letter.actor == actor)
        and (error_type is None or letter.error_type == error_type)
    )


async def _get_or_none(js: JetStreamContext, seq: int) -> DeadLetter | None:
    try:
        return await get(js, seq)
    except DeadLetterError:  # deleted (replayed or purged) since
        return None


async def counts(js: JetStreamContext) -> dict[tuple[str, str], int]:
    """(stream, actor) -> dead letters, from the stream's subject counts: no letter is read."""
    try:
        info = await js.stream_info(STREAM, subjects_filter=f"{SUBJECT_PREFIX}.>")
    except NotFoundError:
        return {}
    found: dict[tuple[str, str], int] = {}
    for subject, count in (info.state.subjects or {}).items():
        _, _, rest = subject.partition(".")
        stream, _, actor = rest.partition(".")
        found[(stream, actor)] = found.get((stream, actor), 0) + count
    return found


async def replay(js: JetStreamContext, letter: DeadLetter) -> int:
    """Publish the message again, for its actor only, with a new `Nats-Msg-Id`; then delete it.

    Returns the new stream sequence of the replayed message.
    """
    if letter.truncated:
        raise DeadLetterError(
            f"dead letter {letter.seq} kept only {len(letter.payload)} of {letter.payload_size} "
            "payload bytes; it cannot be replayed."
        )
    headers = {k: v for k, v in letter.headers.items() if k not in _DROPPED_HEADERS}
    headers[HEADER_MSG_ID] = f"replay:{uuid.uuid4()}"
    headers[HEADER_REPLAY_FOR] = letter.actor
    ack = await js.publish(letter.event, letter.payload, headers=headers)
    await delete(js, letter.seq)
    logger.info(
        "Replayed dead letter seq=%s event=%s actor=%s new_seq=%s",
        letter.seq,
        letter.event,
        letter.actor,
        ack.seq,
    )
    return int(ack.seq)


async def delete(js: JetStreamContext, seq: int) -> None:
    """Remove one dead letter."""
    await js.delete_msg(STREAM, seq)


async def purge(js: JetStreamContext, *, event: str | None = None, actor: str | None = None) -> int:
    """Remove dead letters (all, or one event's/actor's) and return how many."""
    if event is None and actor is None:
        try:
            info = await js.stream_info(STREAM)
        except NotFoundError:
            return 0
        await js.purge_stream(STREAM)
        return int(info.state.messages)
    letters = await list_all(js, event=event, actor=actor)
    for letter in letters:
        await delete(js, letter.seq)
    return len(letters)


def summary(letter: DeadLetter) -> dict[str, Any]:
    """A JSON-friendly view of a dead letter (payload shown as text when it is UTF-8)."""
    try:
        payload: str = letter.payload.decode()
    except UnicodeDecodeError:
        payload = "base64:" + base64.b64encode(letter.payload).decode()
    return {
        **{k: v for k, v in dataclasses.asdict(letter).items() if k != "payload"},
        "payload": payload,
        "truncated": letter.truncated,
    }
