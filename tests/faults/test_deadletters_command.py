"""`manage.py deadletters list|show|replay|purge` against dead letters made by a real worker.

Event `faults-b.dl` has two actors: `fb-dl-ok` always succeeds (and records), `fb-dl-flaky`
fails (max_attempts=2) until a flag file for the message exists. A replay must reach only
the actor that failed.
"""

from __future__ import annotations

import io
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

import walnats_django
from tests.helpers import StartWorker, WorkerProcess, record_lines
from tests.testapp.fault_events import FB_DL
from walnats_django.client import close_connection, get_connection
from walnats_django.sync import run_sync

DEAD_LETTER_LINE = re.compile(
    r"Dead letter recorded actor=fb-dl-flaky stream=faults-b-dl seq=(?P<seq>\d+) "
    r"attempts=(?P<attempts>\d+) dead_letter=(?P<dl>\d+)"
)


@pytest.fixture(autouse=True)
def _close_sync_connection() -> Iterator[None]:
    """emit_sync() and run_sync() share one background connection: close it after each test, so
    later tests that change WALNATS settings from sync code get a connection made with theirs."""
    yield
    run_sync(close_connection())


@pytest.fixture(scope="module")
def dl_worker(start_worker: StartWorker) -> Iterator[WorkerProcess]:
    worker = start_worker("--actor", "fb-dl-ok", "--actor", "fb-dl-flaky")
    yield worker
    worker.stop()


def _until(check: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.02)
    return result


def _command(*args: str) -> str:
    out = io.StringIO()
    call_command("deadletters", *args, stdout=out)
    return out.getvalue()


def _dead_letter(worker: WorkerProcess, record_dir: Path) -> tuple[str, int, int]:
    """Emit a message the flaky actor fails on; return (text, stream seq, dead-letter seq)."""
    text = f"dl-{uuid.uuid4().hex[:10]}"
    since = worker.mark()
    walnats_django.emit_sync(FB_DL, text, wait=True, trace_id=f"trace-{text}")
    # One message in flight at a time: the next dead letter of fb-dl-flaky is ours.
    line = worker.wait_for_line("Dead letter recorded actor=fb-dl-flaky", since=since)
    found = DEAD_LETTER_LINE.search(line)
    assert found is not None
    assert f"failed {text}" in record_lines(record_dir / "fb-dl-flaky")
    _until(lambda: text in record_lines(record_dir / "fb-dl-ok"), "the ok actor handled it")
    return text, int(found["seq"]), int(found["dl"])


def test_list_show_and_replay_reach_only_the_failed_actor(dl_worker: WorkerProcess, record_dir: Path) -> None:
    text, stream_seq, dl_seq = _dead_letter(dl_worker, record_dir)
    assert record_lines(record_dir / "fb-dl-flaky").count(f"failed {text}") == 2

    listed = _command("list")
    row = next(x for x in listed.splitlines() if x.split()[0] == str(dl_seq))
    assert f"event=faults-b.dl actor=fb-dl-flaky seq={stream_seq} attempts=2" in row
    assert "ValueError: fb-dl-flaky: no flag" in row
    as_json = [json.loads(x) for x in _command("list", "--json", "--actor", "fb-dl-flaky").splitlines()]
    assert dl_seq in [x["seq"] for x in as_json]
    assert all(x["actor"] == "fb-dl-flaky" for x in as_json)
    assert "No dead letters." in _command("list", "--actor", "nobody")

    shown = json.loads(_command("show", str(dl_seq)))
    assert shown["seq"] == dl_seq
    assert shown["payload"] == json.dumps(text)
    assert shown["event"] == FB_DL.name
    assert shown["actor"] == "fb-dl-flaky"
    assert shown["stream"] == FB_DL.stream_name
    assert shown["stream_seq"] == stream_seq
    assert shown["attempts"] == 2
    assert shown["truncated"] is False
    assert shown["headers"]["Walnats-Trace"] == f"trace-{text}"

    (record_dir / f"fb-dl-flag-{text}").touch()  # from now on the flaky actor succeeds
    since = dl_worker.mark()
    replayed = _command("replay", str(dl_seq))
    found = re.search(
        rf"Replayed {dl_seq} to faults-b\.dl for actor fb-dl-flaky \(stream seq (\d+)\)\.", replayed
    )
    assert found is not None, replayed
    new_seq = int(found[1])
    dl_worker.wait_for_line(
        f"Skipped replay for actor=fb-dl-flaky in actor=fb-dl-ok seq={new_seq}", since=since
    )
    _until(
        lambda: f"done {text}" in record_lines(record_dir / "fb-dl-flaky"),
        "the flaky actor handled the replay",
    )

    async def settled() -> tuple[int, int, int]:
        js = (await get_connection(2)).js
        ok = await js.consumer_info(FB_DL.stream_name, "fb-dl-ok")
        flaky = await js.consumer_info(FB_DL.stream_name, "fb-dl-flaky")
        stream = await js.stream_info(FB_DL.stream_name)
        return (
            ok.num_ack_pending + ok.num_pending,
            flaky.num_ack_pending + flaky.num_pending,
            stream.state.messages,
        )

    _until(lambda: run_sync(settled()) == (0, 0, 0), "both consumers acked the replay")
    assert record_lines(record_dir / "fb-dl-ok").count(text) == 1, "the ok actor did not handle it again"
    assert record_lines(record_dir / "fb-dl-flaky").count(f"done {text}") == 1
    assert record_lines(record_dir / "fb-dl-flaky").count(f"failed {text}") == 2
    with pytest.raises(CommandError, match=f"no dead letter with sequence {dl_seq}"):
        _command("show", str(dl_seq))
    print(
        f"\n[deadletters] dead letter #{dl_seq} (stream seq {stream_seq}) replayed as stream seq "
        f"{new_seq}: handled once by fb-dl-flaky, skipped by fb-dl-ok"
    )


def test_purge_one_by_actor_and_all(dl_worker: WorkerProcess, record_dir: Path) -> None:
    letters = [_dead_letter(dl_worker, record_dir) for _ in range(3)]
    (_, _, first), (_, _, second), (_, _, third) = letters

    assert _command("purge", str(first)) == f"Purged {first}.\n"
    with pytest.raises(CommandError, match=f"no dead letter with sequence {first}"):
        _command("show", str(first))
    listed = _command("list", "--actor", "fb-dl-flaky")
    assert str(second) in listed
    assert str(third) in listed

    purged = _command("purge", "--all")
    count = int(re.fullmatch(r"Purged (\d+) dead letter\(s\)\.\n", purged)[1])  # type: ignore[index]
    assert count >= 2
    assert _command("list") == "No dead letters.\n"
    assert _command("list", "--json") == ""
    print(f"\n[deadletters] purge <seq> removed 1, purge --all removed {count}")


def test_purge_all_of_one_actor_keeps_the_others(dl_worker: WorkerProcess, record_dir: Path) -> None:
    _, _, seq = _dead_letter(dl_worker, record_dir)
    assert _command("purge", "--all", "--actor", "nobody") == "Purged 0 dead letter(s).\n"
    assert str(seq) in _command("list")
    assert _command("purge", "--all", "--actor", "fb-dl-flaky").startswith("Purged ")
    assert "actor=fb-dl-flaky" not in _command("list")


@pytest.mark.parametrize(
    "args",
    [
        ("replay",),
        ("replay", "1", "--all"),
        ("purge",),
        ("purge", "1", "--all"),
    ],
    ids=" ".join,
)
def test_bad_usage_is_a_command_error(nats_server: object, args: tuple[str, ...]) -> None:
    with pytest.raises(CommandError, match="give dead-letter sequence numbers or --all"):
        _command(*args)


def test_missing_dead_letter_is_a_command_error(nats_server: object) -> None:
    with pytest.raises(CommandError, match="no dead letter with sequence 999999"):
        _command("show", "999999")
    with pytest.raises(CommandError, match="no dead letter with sequence 999999"):
        _command("replay", "999999")


def test_a_recreated_stream_reusing_a_sequence_still_gets_its_dead_letter(
    dl_worker: WorkerProcess, record_dir: Path
) -> None:
    """Dead letters are de-duplicated by Msg-Id (a crash before the term must not record twice);
    a stream deleted and re-created within the 2-minute window starts again at sequence 1,
    so the id must tell its messages apart from the old stream's. Also: a worker that re-created
    the stream at once (within nats-server's teardown) left it unable to store messages.

    Runs last in this module: it deletes the stream under the module's worker.
    """
    letters = []
    for _ in range(2):
        since = dl_worker.mark()
        run_sync(_delete_stream(FB_DL.stream_name))
        for actor in ("fb-dl-ok", "fb-dl-flaky"):
            dl_worker.wait_for_line(f"Consumer gone actor={actor}", since=since)
        _until(lambda: run_sync(_consumers(FB_DL.stream_name)) == 2, "both consumers re-created")
        letters.append(_dead_letter(dl_worker, record_dir))
    (_, first_seq, first_dl), (_, second_seq, second_dl) = letters
    assert first_seq == second_seq == 1, "both streams started at sequence 1"
    assert second_dl != first_dl, "the second dead letter was de-duplicated away"
    listed = _command("list", "--actor", "fb-dl-flaky")
    assert str(first_dl) in listed
    assert str(second_dl) in listed
    print(f"\n[deadletters] stream re-created twice: seq 1 dead-lettered as #{first_dl} and #{second_dl}")


async def _delete_stream(name: str) -> None:
    await (await get_connection(2)).js.delete_stream(name)


async def _consumers(name: str) -> int:
    try:
        info = await (await get_connection(2)).js.stream_info(name)
    except Exception:  # noqa: BLE001 - not re-created yet
        return 0
    return int(info.state.consumer_count)
