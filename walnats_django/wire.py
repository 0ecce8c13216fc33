"""Header names and header building: the wire format shared with walnats 1.2.6."""

from __future__ import annotations

import dataclasses
import datetime
import math
import re
import time
from collections.abc import Mapping

from .errors import InvalidHeader
from .names import is_subject

# walnats 1.2.6 headers
HEADER_REPLY = "Walnats-Reply"
HEADER_DELAY = "Walnats-Delay"
HEADER_TRACE = "Walnats-Trace"
HEADER_MSG_ID = "Nats-Msg-Id"
# walnats-django extensions; a plain walnats peer ignores them
HEADER_DEADLINE = "Walnats-Deadline"
"""Epoch seconds after which the requester gives up; only walnats-django sends it, so it also
means "error answers understood"."""
HEADER_ACCEPT_ERRORS = "Walnats-Accept-Errors"
"""Asks for error answers without a deadline (e.g. a hand-made request)."""
HEADER_ERROR = "Walnats-Error"
"""On an error answer: the remote exception's type name; the body is its message."""
HEADER_ACTOR = "Walnats-Actor"
"""On an error answer: the actor that failed."""
HEADER_REPLAY_FOR = "Walnats-Replay-For"
"""On a replayed dead letter: the only actor that should handle it; others ack and skip."""
RESERVED_HEADER_PREFIXES = ("walnats-", "nats-")
"""Header names callers may not set through `meta` (case-insensitive)."""
RESERVED_HEADERS = frozenset({"status", "description"})
"""Names nats-py also uses for JetStream status lines."""

# RFC 7230 token characters: exactly the header names nats-py accepts (it raises BadHeaderError otherwise).
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@dataclasses.dataclass(frozen=True)
class CloudEvent:
    """CloudEvents attributes, sent as `ce-<attr>` headers (NATS protocol binding)."""

    id: str
    source: str
    type: str
    specversion: str = "1.0"
    datacontenttype: str | None = None
    dataschema: str | None = None
    subject: str | None = None
    time: datetime.datetime | None = None

    def as_headers(self) -> dict[str, str]:
        """The `ce-*` headers for this event."""
        headers: dict[str, str] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None:
                continue
            if isinstance(value, datetime.datetime):
                # RFC 3339 needs an offset; walnats sends naive times as UTC with a "Z".
                value = value.isoformat() if value.utcoffset() is not None else f"{value.isoformat()}Z"
            headers[f"ce-{field.name}"] = str(value)
        return headers


def _check(name: str, value: str) -> None:
    if not _HEADER_NAME.fullmatch(name):
        raise InvalidHeader(
            f"header name {name!r} must be letters, digits or one of !#$%&'*+-.^_`|~ (no spaces, ':' or '/')."
        )
    if "\r" in value or "\n" in value or "\0" in value:
        raise InvalidHeader(f"header {name!r} must not contain CR, LF or NUL: {value!r:.80}")


def build_headers(
    *,
    uid: str | None = None,
    trace_id: str | None = None,
    delay: float | None = None,
    meta: CloudEvent | Mapping[str, str] | None = None,
    deadline: float | None = None,
) -> dict[str, str]:
    """Headers for an emitted or requested message, validated against header injection."""
    if meta is None and uid is None and trace_id is None and delay is None:
        return {} if deadline is None else {HEADER_DEADLINE: repr(deadline)}
    headers: dict[str, str] = {}
    if meta is not None:
        if isinstance(meta, CloudEvent):
            headers.update(meta.as_headers())
            if uid is None:
                uid = meta.id
        elif isinstance(meta, Mapping):
            for key, value in meta.items():
                if not isinstance(key, str) or not isinstance(value, str):
                    raise InvalidHeader(f"meta must map str to str, got {key!r}: {value!r:.40}.")
                if key.lower().startswith(RESERVED_HEADER_PREFIXES) or key.lower() in RESERVED_HEADERS:
                    raise InvalidHeader(
                        f"meta header {key!r} is reserved for the protocol (Walnats-*, Nats-*, "
                        "Status, Description); "
                        "use uid=, trace_id= or delay= instead."
                    )
                headers[key] = value
        else:
            raise InvalidHeader(f"meta must be a dict or CloudEvent, got {type(meta).__name__}.")
        for key, value in headers.items():
            _check(key, value)
    if uid is not None:
        _check(HEADER_MSG_ID, _str("uid", uid))
        headers[HEADER_MSG_ID] = uid
    if trace_id is not None:
        _check(HEADER_TRACE, _str("trace_id", trace_id))
        headers[HEADER_TRACE] = trace_id
    if delay is not None:
        if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay < math.inf:
            raise InvalidHeader(f"delay must be a number of seconds >= 0, got {delay!r}.")
        headers[HEADER_DELAY] = repr(time.time() + delay)
    if deadline is not None:
        headers[HEADER_DEADLINE] = repr(deadline)
    return headers


def _str(what: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidHeader(f"{what} must be a non-empty str, got {value!r}.")
    return value


def encoded_size(headers: Mapping[str, str]) -> int:
    """Bytes the headers take on the wire (`NATS/1.0` block), for the max_payload check.

    Mirrors nats-py: `NATS/1.0\\r\\n`, then `key: value\\r\\n` with key and value stripped, then `\\r\\n`.
    """
    if not headers:
        return 0
    lines = sum(len(f"{k.strip()}: {v.strip()}\r\n".encode()) for k, v in headers.items() if k.strip())
    return len(b"NATS/1.0\r\n") + lines + len(b"\r\n")


def accepts_errors(headers: Mapping[str, str]) -> bool:
    """Whether the requester understands error answers (a plain walnats requester does not)."""
    return HEADER_DEADLINE in headers or HEADER_ACCEPT_ERRORS in headers


def is_safe_reply(subject: str, inbox_prefix: str) -> bool:
    """Whether an answer may be published to `subject`: a literal subject under the inbox prefix."""
    return subject.startswith(inbox_prefix + ".") and is_subject(subject)


def parse_float(value: str | None) -> float | None:
    """A header float, or None when absent or malformed."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None
