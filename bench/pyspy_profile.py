"""Profile the request path and the worker with py-spy, and print where the time goes.

Scenarios (each on the same fresh nats-server unless --nats-url is given):

* request: `walnats_django.request()` at 1,000 in flight (bench/request_latency.py
  --profile-seconds) against `runactors --actor count-words`; py-spy records both processes.
* drain: a 100,000-event `bench.noop` backlog drained by `runactors --actor bench-noop`;
  py-spy records the worker.

    python bench/pyspy_profile.py [--seconds 20] [--rate 200] [--out DIR] [--scenario request|drain]

Raw collapsed stacks (`*.raw`, loadable by speedscope or flamegraph.pl) and text summaries
(`*.txt`, see bench/pyspy_summary.py) go to --out (default: a new temp dir).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    # Run as a file: make the repository importable as the `bench` package's parent.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._common import PYTHON, Proc, arun, child_env, nats_server, setup_django, start_runactors
from bench.benchapp.catalog import NOOP_ACTOR, NOOP_EVENT, NOOP_STREAM
from bench.pyspy_summary import summarize


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
    if not Path(found).exists():
        raise SystemExit("py-spy not found; pip install py-spy")
    return found


NATIVE = True
"""Also unwind C frames (py-spy --native): without it, C time (the loop, sockets, getpid) lands on
whichever Python frame is on top, which over-weights frames that make system calls."""


def record(pid: int, out: Path, seconds: float, rate: int) -> subprocess.Popen[bytes]:
    """Start `py-spy record --format raw` on `pid` for `seconds` (idle threads excluded)."""
    args = [
        py_spy(),
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(round(seconds)),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--output",
        str(out),
        *(["--native"] if NATIVE else []),
    ]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finish_recording(spy: subprocess.Popen[bytes], out: Path, focus: str, top: int) -> str:
    _, err = spy.communicate(timeout=120)
    if spy.returncode != 0 or not out.exists():
        raise RuntimeError(f"py-spy failed for {out.name}: {err.decode(errors='replace')}")
    # Only the event loop thread: idle executor threads can show up as samples in containers.
    text = summarize(out, top=top, focus=focus, only="Runner.run")
    out.with_suffix(".txt").write_text(text + "\n")
    return text


def profile_request(url: str, out_dir: Path, seconds: float, rate: int, top: int) -> None:
    worker = start_runactors(url, ["count-words"], settings="project.settings")
    requester = Proc(
        [PYTHON, "-m", "bench.request_latency", "--nats-url", url, "--profile-seconds", str(seconds + 4)],
        env=child_env(url, "bench.settings"),
        name="requester",
    )
    try:
        requester.wait_for_line("profile load started", timeout=60)
        time.sleep(1)
        spies = {
            name: (record(pid, out_dir / f"request-{name}.raw", seconds, rate), name)
            for name, pid in (("requester", requester.pid), ("worker", worker.pid))
        }
        for name, (spy, _) in spies.items():
            print(f"\n===== request scenario: {name} (1,000 in flight) =====")
            print(finish_recording(spy, out_dir / f"request-{name}.raw", "walnats_django", top))
        requester.wait_for_line("profile load done", timeout=60)
        print("\n" + next(line for line in requester.lines if "profile load done" in line))
    finally:
        requester.stop()
        worker.stop()


async def _backlog(url: str, count: int) -> None:
    import nats

    from bench._common import publish_backlog
    from bench.emit_drain import ensure_noop

    nc = await nats.connect(url)
    js = nc.jetstream()
    await ensure_noop(js)
    await publish_backlog(nc, js, NOOP_EVENT, NOOP_STREAM, NOOP_ACTOR, count, b'"a no-op event"')
    await nc.close()


def profile_drain(url: str, out_dir: Path, rate: int, top: int, count: int, batch: int | None) -> None:
    setup_django(url, "bench.settings")
    arun(_backlog(url, count))
    extra = ["--batch", str(batch)] if batch else []
    worker = start_runactors(url, [NOOP_ACTOR], extra_args=extra)
    try:
        # Record for the whole drain; stop py-spy by its --duration (the estimate is generous).
        spy = record(worker.pid, out_dir / "drain-worker.raw", 3 + count / 8000, rate)
        started = time.monotonic()
        spy.wait()
        print(f"\n===== drain scenario: worker ({count:,} backlog, --batch {batch or 'default'}) =====")
        print(f"(recorded {time.monotonic() - started:.0f}s; idle samples after the drain are excluded)")
        print(finish_recording(spy, out_dir / "drain-worker.raw", "walnats_django", top))
    finally:
        worker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nats-url", help="Use this nats-server (default: start a fresh one).")
    parser.add_argument("--seconds", type=float, default=20.0, help="Recording time of the request scenario.")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second.")
    parser.add_argument("--top", type=int, default=25, help="Functions listed per summary.")
    parser.add_argument("--backlog", type=int, default=100_000, help="Events of the drain scenario.")
    parser.add_argument("--batch", type=int, help="runactors --batch of the drain scenario.")
    parser.add_argument("--scenario", action="append", choices=("request", "drain"))
    parser.add_argument("--out", type=Path, help="Directory for *.raw and *.txt (default: a temp dir).")
    parser.add_argument("--python-only", action="store_true", help="Do not unwind native (C) frames.")
    args = parser.parse_args()
    global NATIVE
    NATIVE = not args.python_only
    out_dir = args.out or Path(tempfile.mkdtemp(prefix="walnats-pyspy-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    with nats_server(args.nats_url) as url:
        for scenario in args.scenario or ("request", "drain"):
            if scenario == "request":
                profile_request(url, out_dir, args.seconds, args.rate, args.top)
            else:
                profile_drain(url, out_dir, args.rate, args.top, args.backlog, args.batch)
    print(f"\nraw profiles and summaries in {out_dir}")


if __name__ == "__main__":
    main()
