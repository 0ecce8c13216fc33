"""Shared helpers of the benchmark scripts: processes, NATS, statistics and tables.

Nothing here imports Django (nor walnats_django, which imports it) at import time; scripts
that need it call `setup_django()`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from walnats_django.testing import OutputLines

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")

Row = Sequence[object]
T = TypeVar("T")

LOOP_ENV = "WALNATS_BENCH_LOOP"
"""auto (uvloop when installed, like runactors and uvicorn), asyncio or uvloop; run_all --loop sets it."""


def loop_choice() -> str:
    choice = os.environ.get(LOOP_ENV, "auto")
    if choice not in ("auto", "asyncio", "uvloop"):
        raise SystemExit(f"{LOOP_ENV} must be auto, asyncio or uvloop, not {choice!r}")
    return choice


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """The event loop of the benchmark's own processes (requester, responder, load generator)."""
    choice = loop_choice()
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise
        else:
            return uvloop.new_event_loop
    return asyncio.new_event_loop


def loop_name() -> str:
    return "uvloop" if loop_factory() is not asyncio.new_event_loop else "asyncio"


def arun(coro: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run()` on the chosen loop (see `loop_factory`)."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(coro)


# --------------------------------------------------------------------------- results


@dataclass
class Table:
    """A titled table; `render()` gives Markdown."""

    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([str(c).replace("|", "\\|") for c in cells])

    def render(self) -> str:
        widths = [
            max(len(h), *(len(r[i]) for r in self.rows)) if self.rows else len(h)
            for i, h in enumerate(self.headers)
        ]
        line = "| " + " | ".join(h.ljust(w) for h, w in zip(self.headers, widths, strict=True)) + " |"
        rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
        body = [
            "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in self.rows
        ]
        out = [f"### {self.title}", "", line, rule, *body]
        if self.notes:
            out += ["", *(f"- {n}" for n in self.notes)]
        return "\n".join(out) + "\n"

    def as_dict(self) -> dict[str, Any]:
        return {"title": self.title, "headers": self.headers, "rows": self.rows, "notes": self.notes}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Table:
        return cls(
            data["title"], list(data["headers"]), [list(r) for r in data["rows"]], list(data.get("notes", []))
        )


@dataclass
class Target:
    """One of the brief's targets: `measured` ratio/rate against `goal` (>= or <=)."""

    name: str
    goal: float
    measured: float | None
    higher_is_better: bool
    unit: str = "x"

    @property
    def met(self) -> bool | None:
        if self.measured is None:
            return None
        return self.measured >= self.goal if self.higher_is_better else self.measured <= self.goal

    def fmt(self, value: float) -> str:
        if self.unit == "x":
            return f"{value:.2f}x"
        if self.unit == "%":
            return f"{value * 100:.0f}%"
        return f"{value:,.0f} {self.unit}"

    def as_row(self) -> list[str]:
        sign = ">=" if self.higher_is_better else "<="
        measured = "n/a" if self.measured is None else self.fmt(self.measured)
        met = {True: "yes", False: "**no**", None: "n/a"}[self.met]
        return [self.name, f"{sign} {self.fmt(self.goal)}", measured, met]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "goal": self.goal,
            "measured": self.measured,
            "higher_is_better": self.higher_is_better,
            "unit": self.unit,
        }


@dataclass
class Result:
    """What one benchmark script produces: tables plus the targets it measured."""

    name: str
    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    seconds: float = 0.0

    def render(self) -> str:
        return "\n".join(t.render() for t in self.tables)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tables": [t.as_dict() for t in self.tables],
            "targets": [t.as_dict() for t in self.targets],
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        return cls(
            data["name"],
            [Table.from_dict(t) for t in data["tables"]],
            [Target(**t) for t in data["targets"]],
            data.get("seconds", 0.0),
        )


def targets_table(targets: Sequence[Target]) -> Table:
    table = Table("Targets", ["target", "goal", "measured", "met?"])
    for target in targets:
        table.add(*target.as_row())
    return table


# --------------------------------------------------------------------------- numbers


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank of already *sorted* values."""
    if not values:
        return float("nan")
    rank = max(0, min(len(values) - 1, round(q / 100 * len(values) + 0.5) - 1))
    return values[rank]


@dataclass
class LatencyStats:
    count: int
    p50: float
    p90: float
    p99: float
    mean: float
    max: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> LatencyStats:
        values = sorted(seconds)
        if not values:
            nan = float("nan")
            return cls(0, nan, nan, nan, nan, nan)
        return cls(
            len(values),
            percentile(values, 50),
            percentile(values, 90),
            percentile(values, 99),
            statistics.fmean(values),
            values[-1],
        )


def ms(seconds: float) -> str:
    """Seconds as milliseconds with a sensible number of digits."""
    value = seconds * 1000
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 100 else f"{value:.0f}"


def ratio(value: float, baseline: float) -> str:
    if not baseline or baseline != baseline or value != value:
        return "n/a"
    return f"{value / baseline:.2f}x"


def rate(value: float) -> str:
    return f"{value:,.0f}"


# --------------------------------------------------------------------------- processes


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status_kib(pid: int, key: str) -> int | None:
    """A `kB` value from /proc/<pid>/status (VmRSS, VmHWM, ...), None when gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def find_nats_pid(url: str) -> int | None:
    """The pid of the local `nats-server` listening on `url`'s port (by its command line)."""
    port = url.rsplit(":", 1)[-1].strip("/")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if args and args[0].endswith(b"nats-server") and port.encode() in args:
            return int(entry.name)
    return None


class CpuMeter:
    """CPU use of some processes between `start()` and `stop()`, as % of one core."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._start: dict[str, float] = {}
        self._t0 = 0.0
        self.percent: dict[str, float] = {}

    def start(self) -> CpuMeter:
        self._t0 = time.monotonic()
        self._start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        return self

    def stop(self) -> dict[str, float]:
        wall = max(time.monotonic() - self._t0, 1e-9)
        self.percent = {
            name: 100 * (cpu_seconds(pid) - self._start[name]) / wall for name, pid in self.pids.items()
        }
        return self.percent

    def summary(self) -> str:
        return ", ".join(f"{name} {pct:.0f}%" for name, pct in self.percent.items())


class Proc:
    """A subprocess whose combined output is collected line by line (with arrival times)."""

    def __init__(self, args: list[str], *, env: dict[str, str] | None = None, name: str = "") -> None:
        from walnats_django.testing import OutputLines

        self.name = name or Path(args[1] if len(args) > 1 else args[0]).name
        self.args = args
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        self.output: OutputLines = OutputLines(self.process, name=self.name, show_last=40)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def lines(self) -> list[str]:
        return self.output.lines

    def wait_for_line(self, needle: str, timeout: float = 30.0) -> float:
        """Block until a line containing `needle` appears; return its arrival time (monotonic).

        `TimeoutError`, or `ProcessExited` (a RuntimeError) when the process ended first.
        """
        return self.output.times[self.output.wait_for(needle, timeout)]

    def log(self, last: int = 40) -> str:
        return self.output.log(last)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.output.join(timeout=5)
        return self.process.returncode

    def __enter__(self) -> Proc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def child_env(nats_url: str, settings: str = "bench.settings", **extra: str) -> dict[str, str]:
    """Environment for a Django subprocess talking to `nats_url`."""
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings,
        "NATS_URL": nats_url,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": pythonpath,
        **extra,
    }


def start_runactors(
    nats_url: str,
    actors: Sequence[str],
    *,
    settings: str = "bench.settings",
    extra_args: Sequence[str] = (),
    wait: bool = True,
) -> Proc:
    """`manage.py runactors --actor ...` as a subprocess; waits for "Worker started" by default."""
    args = [PYTHON, "manage.py", "runactors", *(a for name in actors for a in ("--actor", name)), *extra_args]
    if loop_choice() != "auto":  # runactors' own default is auto too
        args += ["--loop", loop_choice()]
    proc = Proc(args, env=child_env(nats_url, settings), name="runactors")
    if wait:
        try:
            proc.wait_for_line("Worker started", timeout=60)
        except BaseException:
            proc.stop()
            raise
    return proc


def setup_django(nats_url: str, settings: str = "bench.settings") -> None:
    """Configure this process for Django with `settings`, talking to `nats_url`."""
    os.environ["DJANGO_SETTINGS_MODULE"] = settings
    os.environ["NATS_URL"] = nats_url
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


@contextlib.contextmanager
def nats_server(url: str | None) -> Iterator[str]:
    """`url` when given, else a fresh `nats-server -js` for the duration of the block."""
    if url:
        yield url
        return
    from walnats_django.testing import NatsServer

    with NatsServer() as server:
        yield server.url


# --------------------------------------------------------------------------- JetStream


async def stream_msgs(js: Any, stream: str) -> int:
    info = await js.stream_info(stream)
    return int(info.state.messages)


async def consumer_backlog(js: Any, stream: str, consumer: str) -> int:
    """Messages the consumer still has to get done: num_pending + num_ack_pending."""
    info = await js.consumer_info(stream, consumer)
    return int(info.num_pending or 0) + int(info.num_ack_pending or 0)


async def wait_until(check: Any, goal: Any, *, timeout: float, every: float = 0.02) -> float:
    """Await `check()` until it returns `goal`; returns the monotonic time it did."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value == goal:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"still {value!r} (want {goal!r}) after {timeout}s")
        await asyncio.sleep(every)


async def publish_backlog(
    nc: Any, js: Any, subject: str, stream: str, consumer: str, count: int, payload: bytes
) -> float:
    """Purge `stream`, publish `count` messages with core NATS, wait until the consumer sees them.

    Returns the seconds it took. Publishing is done in chunks with a flush, so the server
    is never flooded faster than it stores.
    """
    await js.purge_stream(stream)
    started = time.monotonic()
    chunk = 5_000
    for first in range(0, count, chunk):
        for _ in range(min(chunk, count - first)):
            await nc.publish(subject, payload)
        await nc.flush(timeout=30)

    async def backlog() -> int:
        return await consumer_backlog(js, stream, consumer)

    await wait_until(backlog, count, timeout=60, every=0.05)
    return time.monotonic() - started


# --------------------------------------------------------------------------- CLI


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--nats-url", help="Use this nats-server (default: start a fresh one).")
    parser.add_argument("--quick", action="store_true", help="Small counts: a smoke run.")
    parser.add_argument("--json", type=Path, help="Also write the result as JSON to this file.")
    return parser


def finish(result: Result, json_path: Path | None) -> None:
    """Print the result's tables (and targets); write JSON when asked."""
    print(result.render())
    if result.targets:
        print(targets_table(result.targets).render())
    if json_path is not None:
        json_path.write_text(json.dumps(result.as_dict(), indent=2))
