"""Hostile requests from plain NATS clients: forged reply subjects are refused and nothing is
published there, answers echo none of the request's headers, and header injection through
uid, trace_id or meta is refused before sending. Credentials are tested in test_credentials.py
and test_tls_nkeys.py. Measurements are printed: run with `pytest -s` to see them.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.msg import Msg
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

import walnats_django
from tests.helpers import WorkerProcess, await_line, record_lines, settled, unique, until
from tests.testapp.fault_events import FB_DEAD, FB_DUP, FB_FORGE
from walnats_django import InvalidHeader
from walnats_django import deadletters as dl
from walnats_django.testing import NatsServer
from walnats_django.wire import HEADER_ACCEPT_ERRORS, HEADER_ACTOR, HEADER_ERROR, HEADER_REPLY, HEADER_TRACE

# -- forged reply subjects ---------------------------------------------------------------------


VICTIM_STREAM = "faults-b-victim"


VICTIM_SUBJECT = "faults-b.victim"


FORGED = [
    f"$JS.API.STREAM.PURGE.{VICTIM_STREAM}",
    VICTIM_SUBJECT,
    FB_DUP.subject,
    "_INBOX.has space",
    "_INBOX.cr\r\nPUB faults-b.victim 2",  # nats-py turns CR/LF into spaces on the wire
    "_INBOX.*",
    "_INBOX.>",
    "_INBOX",
    "_INBOXX.abc",
    "_INBOX..empty-token",
    "_INBOX.a.$JS",
]


def _expected_copy(msg: Msg) -> bool:
    """Where a forged message's payload may legitimately show up."""
    return (
        msg.subject in (FB_FORGE.subject, FB_DEAD.subject)  # the publish itself
        or (msg.reply or "").startswith("$JS.ACK.")  # its delivery to the worker
        or msg.subject.startswith(f"{dl.SUBJECT_PREFIX}.")
    )  # its dead letter (fb-dead)


async def test_forged_reply_subjects_are_refused_and_nothing_is_published_there(
    fb_worker: WorkerProcess, raw: nats.NATS, record_dir: Path, nats_server: NatsServer
) -> None:
    js = raw.jetstream()
    with contextlib.suppress(NotFoundError):
        await js.delete_stream(VICTIM_STREAM)
    await js.add_stream(StreamConfig(name=VICTIM_STREAM, subjects=[VICTIM_SUBJECT]))
    await js.publish(VICTIM_SUBJECT, b"keep-1")
    await js.publish(VICTIM_SUBJECT, b"keep-2")

    # Everything on the server: a leak would show up here, whatever its subject.
    seen: list[Msg] = []

    async def monitor_cb(msg: Msg) -> None:
        seen.append(msg)

    monitor = await nats.connect(nats_server.url)
    await monitor.subscribe(">", cb=monitor_cb)
    await monitor.flush()

    since = fb_worker.mark()
    markers: dict[str, str] = {}
    for i, forged in enumerate(FORGED):
        marker = unique(f"forge{i}")
        markers[marker] = forged
        ack = await js.publish(
            FB_FORGE.subject,
            json.dumps(marker).encode(),
            headers={
                HEADER_REPLY: forged,
                HEADER_ACCEPT_ERRORS: "1",
                "X-Custom": "secret-header-value",
            },
        )
        await await_line(fb_worker, f"Refused unsafe reply subject actor=fb-forge seq={ack.seq} ", since)
    # And on the error answer (the handler raises): refused, too. Only the last attempt answers.
    dead_marker = unique("forge-dead")
    markers[dead_marker] = FORGED[0]
    ack = await js.publish(
        FB_DEAD.subject,
        json.dumps(dead_marker).encode(),
        headers={HEADER_REPLY: FORGED[0], HEADER_ACCEPT_ERRORS: "1"},
    )
    await await_line(
        fb_worker, f"Dead letter recorded actor=fb-dead stream={FB_DEAD.stream_name} seq={ack.seq} ", since
    )
    # The error answer follows the dead letter: await its refusal on the third attempt.
    await until(
        lambda: (
            len(
                [
                    x
                    for x in fb_worker.lines[since:]
                    if f"Refused unsafe reply subject actor=fb-dead seq={ack.seq} " in x
                ]
            )
            == 1
        ),
        "the final error answer refused",
    )

    # Barrier: a legitimate request answered after all of the above. The worker publishes in
    # order on one connection, so the monitor has seen anything it published before.
    barrier = unique("barrier")
    assert await walnats_django.request(FB_FORGE, barrier, timeout=5) == barrier
    await until(
        lambda: any(
            m.data == json.dumps(barrier).encode()
            and m.subject.startswith("_INBOX.")
            and not (m.reply or "").startswith("$JS.ACK")
            for m in seen
        ),
        "the monitor saw the barrier answer",
    )
    await monitor.close()

    handled = record_lines(record_dir / "fb-forge")
    for marker, forged in markers.items():
        leaks = [m for m in seen if marker.encode() in m.data and not _expected_copy(m)]
        assert leaks == [], f"published for forged reply {forged!r}: {[(m.subject, m.data) for m in leaks]}"
        if marker != dead_marker:
            assert marker in handled, f"the message with reply {forged!r} was not handled"
    assert not [m for m in seen if m.subject == f"$JS.API.STREAM.PURGE.{VICTIM_STREAM}"]
    assert (await js.stream_info(VICTIM_STREAM)).state.messages == 2, "the purge did not happen"
    await settled(js, FB_FORGE.stream_name, "fb-forge", timeout=5)  # every forged message was acked
    warnings = [x for x in fb_worker.lines[since:] if "Refused unsafe reply subject" in x]
    assert all("WARNING" in x for x in warnings)
    await js.delete_stream(VICTIM_STREAM)
    print(
        f"\n[12] {len(FORGED)} forged reply subjects refused ({len(warnings)} warnings), all handled, "
        f"{len(seen)} messages monitored, none on a forged subject; victim stream kept 2 messages"
    )


# -- headers -----------------------------------------------------------------------------------


async def test_answers_echo_no_request_headers(fb_worker: WorkerProcess, raw: nats.NATS) -> None:
    js = raw.jetstream()
    inbox = raw.new_inbox()
    sub = await raw.subscribe(inbox)
    custom = {
        "X-Custom": "secret-header-value",
        HEADER_TRACE: "trace-echo",
        "ce-id": "ce-echo",
        "Authorization": "Bearer abc",
    }
    await js.publish(
        FB_FORGE.subject, b'"echo me"', headers={HEADER_REPLY: inbox, HEADER_ACCEPT_ERRORS: "1", **custom}
    )
    answer = await sub.next_msg(timeout=5)
    assert answer.data == b'"echo me"'
    assert not answer.headers, f"a success answer carries no headers, got {answer.headers}"
    await js.publish(
        FB_DEAD.subject, b'"echo error"', headers={HEADER_REPLY: inbox, HEADER_ACCEPT_ERRORS: "1", **custom}
    )
    error = await sub.next_msg(timeout=5)
    assert error.headers == {HEADER_ERROR: "ValueError", HEADER_ACTOR: "fb-dead"}
    print(f"\n[12] answer headers: success={answer.headers}, error={error.headers}")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"trace_id": "a\r\nNats-Msg-Id: x"},
        {"trace_id": "a\nb"},
        {"trace_id": "nul\0byte"},
        {"uid": "u\r\nWalnats-Reply: _INBOX.x"},
        {"meta": {"X-Note": "a\r\nNats-Msg-Id: x"}},
        {"meta": {"Nats-Msg-Id": "forced"}},
        {"meta": {"nats-expected-stream": "other"}},
        {"meta": {"Walnats-Reply": "_INBOX.forged"}},
        {"meta": {"walnats-delay": "0"}},
        {"meta": {"Bad Name": "x"}},
        {"meta": {"Bad:Name": "x"}},
        {"meta": {"X-Note\r\nNats-Msg-Id": "x"}},
    ],
    ids=lambda kw: repr(kw)[:40],
)
async def test_header_injection_is_refused_before_sending(
    fb_worker: WorkerProcess, raw: nats.NATS, kwargs: dict[str, Any]
) -> None:
    sub = await raw.subscribe(FB_FORGE.subject)  # core subscribers see every publish to it
    await raw.flush()
    with pytest.raises(InvalidHeader):
        await walnats_django.request(FB_FORGE, "injected", timeout=5, **kwargs)
    with pytest.raises(InvalidHeader):
        await walnats_django.emit(FB_FORGE, "injected", wait=True, **kwargs)
    with pytest.raises(InvalidHeader):
        await walnats_django.emit(FB_FORGE, "injected", **kwargs)
    assert await walnats_django.request(FB_FORGE, "clean", timeout=5) == "clean"
    first = await sub.next_msg(timeout=2)
    assert first.data == b'"clean"', "nothing was sent before the clean request"
