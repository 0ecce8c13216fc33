"""Headers: what build_headers sends, their exact wire size, and which reply subjects are safe."""

from __future__ import annotations

import datetime
import string
import time

import pytest
from nats.aio.client import Client
from nats.errors import BadHeaderError

from walnats_django.errors import InvalidHeader
from walnats_django.wire import (
    HEADER_ACCEPT_ERRORS,
    HEADER_DEADLINE,
    HEADER_DELAY,
    HEADER_MSG_ID,
    HEADER_REPLY,
    HEADER_TRACE,
    CloudEvent,
    accepts_errors,
    build_headers,
    encoded_size,
    is_safe_reply,
    parse_float,
)


def test_walnats_header_names() -> None:
    # Spelled as in walnats 1.2.6 (_constants.py) and JetStream.
    assert (HEADER_REPLY, HEADER_DELAY, HEADER_TRACE, HEADER_MSG_ID) == (
        "Walnats-Reply",
        "Walnats-Delay",
        "Walnats-Trace",
        "Nats-Msg-Id",
    )


def test_no_options_no_headers() -> None:
    assert build_headers() == {}


def test_uid_is_the_msg_id() -> None:
    assert build_headers(uid="order-17") == {"Nats-Msg-Id": "order-17"}


def test_trace_id() -> None:
    assert build_headers(trace_id="abc123") == {"Walnats-Trace": "abc123"}


def test_delay_is_an_epoch_float_in_the_future() -> None:
    before = time.time()
    headers = build_headers(delay=5)
    after = time.time()
    assert list(headers) == ["Walnats-Delay"]
    value = float(headers["Walnats-Delay"])
    assert before + 5 <= value <= after + 5
    assert headers["Walnats-Delay"] == repr(value)


def test_zero_delay_is_sent() -> None:
    assert float(build_headers(delay=0)["Walnats-Delay"]) == pytest.approx(time.time(), abs=5)


@pytest.mark.parametrize("delay", [-1, True, "5", float("nan")])
def test_bad_delay(delay: object) -> None:
    with pytest.raises(InvalidHeader, match="delay must be a number of seconds >= 0"):
        build_headers(delay=delay)  # type: ignore[arg-type]


def test_deadline() -> None:
    assert build_headers(deadline=1700000000.25) == {HEADER_DEADLINE: "1700000000.25"}


def test_deadline_or_accept_errors_header_means_error_answers_are_understood() -> None:
    assert accepts_errors({HEADER_DEADLINE: "1700000000.25"})
    assert accepts_errors({HEADER_ACCEPT_ERRORS: "1"})
    assert not accepts_errors({HEADER_REPLY: "_INBOX.x.y"}), "what walnats 1.2.6 sends"


def test_meta_dict_is_copied_into_headers() -> None:
    meta = {"X-Tenant": "acme", "priority": "high"}
    headers = build_headers(meta=meta, uid="u1")
    assert headers == {"X-Tenant": "acme", "priority": "high", "Nats-Msg-Id": "u1"}
    assert meta == {"X-Tenant": "acme", "priority": "high"}


def test_meta_dict_without_uid_sets_no_msg_id() -> None:
    assert HEADER_MSG_ID not in build_headers(meta={"ce-id": "x"})


@pytest.mark.parametrize("meta", [{"k": 1}, {2: "v"}, {"k": None}])
def test_meta_must_map_str_to_str(meta: object) -> None:
    with pytest.raises(InvalidHeader, match="meta must map str to str"):
        build_headers(meta=meta)  # type: ignore[arg-type]


def test_meta_must_be_a_mapping_or_cloudevent() -> None:
    with pytest.raises(InvalidHeader, match="meta must be a dict or CloudEvent, got list"):
        build_headers(meta=[("a", "b")])  # type: ignore[arg-type]


def test_cloudevent_becomes_ce_headers_and_msg_id() -> None:
    meta = CloudEvent(
        id="evt-1", source="/shop", type="order.created", subject="o-9", datacontenttype="application/json"
    )
    assert build_headers(meta=meta) == {
        "ce-id": "evt-1",
        "ce-source": "/shop",
        "ce-type": "order.created",
        "ce-specversion": "1.0",
        "ce-datacontenttype": "application/json",
        "ce-subject": "o-9",
        "Nats-Msg-Id": "evt-1",
    }


def test_uid_wins_over_cloudevent_id() -> None:
    headers = build_headers(meta=CloudEvent(id="evt-1", source="s", type="t"), uid="u-2")
    assert headers["Nats-Msg-Id"] == "u-2"
    assert headers["ce-id"] == "evt-1"


def test_cloudevent_time_is_rfc3339() -> None:
    aware = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    assert CloudEvent("i", "s", "t", time=aware).as_headers()["ce-time"] == "2024-01-02T03:04:05+02:00"
    # walnats 1.2.6 sends naive times as UTC with a "Z" suffix.
    naive = datetime.datetime(2024, 1, 2, 3, 4, 5)
    assert CloudEvent("i", "s", "t", time=naive).as_headers()["ce-time"] == "2024-01-02T03:04:05Z"


def test_cloudevent_skips_unset_attributes() -> None:
    assert CloudEvent("i", "s", "t").as_headers() == {
        "ce-id": "i",
        "ce-source": "s",
        "ce-type": "t",
        "ce-specversion": "1.0",
    }


@pytest.mark.parametrize("bad", ["a\rb", "a\nb", "a\r\nPUB evil 0", "a\x00b", "\n"])
def test_cr_lf_nul_rejected_everywhere(bad: str) -> None:
    for kwargs in (
        {"uid": bad},
        {"trace_id": bad},
        {"meta": {"X-A": bad}},
        {"meta": CloudEvent(id="i", source=bad, type="t")},
        {"meta": CloudEvent(id=bad, source="s", type="t")},
    ):
        with pytest.raises(InvalidHeader, match="must not contain CR, LF or NUL"):
            build_headers(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("what", ["uid", "trace_id"])
@pytest.mark.parametrize("value", ["", 5, b"x"])
def test_uid_and_trace_must_be_non_empty_str(what: str, value: object) -> None:
    with pytest.raises(InvalidHeader, match=f"{what} must be a non-empty str"):
        build_headers(**{what: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name", ["", "a b", "a:b", "a\r\nb", "é", "a/b", "a(b)", "a@b", "x\x7f", "a,b", "a;b", "a=b", "{a}"]
)
def test_bad_header_names(name: str) -> None:
    with pytest.raises(InvalidHeader, match="header name"):
        build_headers(meta={name: "v"})


async def nats_py_header_block(headers: dict[str, str]) -> bytes:
    """The header block nats-py itself puts on the wire for a publish with `headers`."""
    nc = Client()  # never connected: the HPUB command stays in its pending buffer
    await nc._send_publish("subject", "", b"payload", len(b"payload"), headers)
    (command,) = nc._pending
    control, _, rest = bytes(command).partition(b"\r\n")
    op, subject, header_length, total_length = control.split()
    assert (op, subject, int(total_length)) == (b"HPUB", b"subject", int(header_length) + len(b"payload"))
    return rest[: int(header_length)]


async def test_every_header_name_we_accept_nats_py_accepts_and_back() -> None:
    for char in string.printable + "\x7fé":
        name = f"X{char}"
        try:
            build_headers(meta={name: "v"})
            ours = True
        except InvalidHeader:
            ours = False
        try:
            await nats_py_header_block({name: "v"})
            theirs = True
        except BadHeaderError:
            theirs = False
        if char.isspace():  # nats-py strips the name; we refuse whitespace outright
            assert not ours
        else:
            assert ours is theirs, f"header name {name!r}: walnats_django {ours}, nats-py {theirs}"


def test_encoded_size_by_hand() -> None:
    assert encoded_size({}) == 0
    assert encoded_size({"a": "b"}) == len(b"NATS/1.0\r\na: b\r\n\r\n") == 18


@pytest.mark.parametrize(
    "headers",
    [
        {"a": "b"},
        {"Nats-Msg-Id": "order-17", "Walnats-Trace": "t" * 100},
        {"Walnats-Reply": "_INBOX.abc.r1", "Walnats-Deadline": "1700000000.25"},
        {"X-Text": "café ☕"},
        {"X-Padded": "  spaced value  "},
        {"X-Empty": ""},
    ],
)
async def test_encoded_size_matches_what_nats_py_sends(headers: dict[str, str]) -> None:
    block = await nats_py_header_block(headers)
    assert block.startswith(b"NATS/1.0\r\n")
    assert block.endswith(b"\r\n\r\n")
    assert encoded_size(headers) == len(block)


async def test_encoded_size_of_built_headers_matches_nats_py() -> None:
    meta = CloudEvent(id="i", source="/s", type="t", time=datetime.datetime(2024, 1, 1))
    headers = build_headers(uid="u", trace_id="t", delay=1, deadline=2.5, meta=meta)
    assert encoded_size(headers) == len(await nats_py_header_block(headers))


@pytest.mark.parametrize("subject", ["_INBOX.abc.r1", "_INBOX.x", "_INBOX.AbC-12_x.r99"])
def test_safe_replies(subject: str) -> None:
    assert is_safe_reply(subject, "_INBOX")


@pytest.mark.parametrize(
    "subject",
    [
        "$JS.API.STREAM.PURGE.x",
        "count-words",
        "_INBOX",
        "_INBOX.",
        "_INBOX.*",
        "_INBOX.>",
        "_INBOX.a.*",
        "_INBOX.abc r1",
        "_INBOX.abc\r\nPUB count-words 1",
        "_INBOX.abc\n",
        "_INBOX.abc\x00",
        "_INBOXabc.r1",
        "_INBOX..x",
        "x._INBOX.abc",
        "_INBOX." + "a" * 300,
        "",
    ],
)
def test_unsafe_replies(subject: str) -> None:
    assert not is_safe_reply(subject, "_INBOX")


def test_safe_reply_follows_the_inbox_prefix() -> None:
    assert is_safe_reply("_WEB.abc", "_WEB")
    assert not is_safe_reply("_INBOX.abc", "_WEB")
    assert is_safe_reply("app.inbox.abc", "app.inbox")
    assert not is_safe_reply("app.inboxes.abc", "app.inbox")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1.5", 1.5), ("1700000000.25", 1700000000.25), ("3", 3.0), (None, None), ("", None), ("soon", None)],
)
def test_parse_float(value: str | None, expected: float | None) -> None:
    assert parse_float(value) == expected
