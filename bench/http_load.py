"""HTTP: the example project's `POST /count-words` (awaits `request()`) vs `POST /no-request`.

Runs the example project under uvicorn (uvloop, httptools, lifespan on, 1 worker) plus one
`runactors --actor count-words` process, then loads both views with the same JSON body and
concurrency using `wrk` (a Lua script makes it POST) or, without wrk, a built-in asyncio
HTTP/1.1 keep-alive client. The CPU of each process is measured during each run, to tell
whether the load generator is the bottleneck.

    python bench/http_load.py [--quick] [--nats-url URL] [--json FILE] [--client wrk|python]
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):
    # Run as a file: make the repository importable as the `bench` package's parent.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import asyncio
import json
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from bench._common import (
    PYTHON,
    CpuMeter,
    LatencyStats,
    Proc,
    Result,
    Table,
    Target,
    arun,
    base_parser,
    child_env,
    find_nats_pid,
    finish,
    ms,
    nats_server,
    rate,
    ratio,
    start_runactors,
)
from walnats_django.testing import free_port

TEXT = "the quick brown fox jumps over the lazy dog and keeps running across the field"
BODY = json.dumps({"text": TEXT})
CONNECTIONS = 64
VIEW_GOAL = 0.7
PATHS = ("/no-request", "/count-words")


@dataclass
class HttpRun:
    path: str
    requests: int
    seconds: float
    p50: float
    p99: float
    errors: int
    cpu: dict[str, float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


# --------------------------------------------------------------------------- servers


def start_uvicorn(url: str, port: int, settings: str = "project.settings") -> Proc:
    args = [
        PYTHON,
        "-m",
        "uvicorn",
        "project.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--lifespan",
        "on",
        "--workers",
        "1",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    proc = Proc(args, env=child_env(url, settings), name="uvicorn")
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            if proc.process.poll() is not None or time.monotonic() > deadline:
                proc.stop()
                raise RuntimeError(f"uvicorn did not start:\n{proc.log()}") from None
            time.sleep(0.05)


def post(port: int, path: str) -> dict[str, object]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=BODY.encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, object] = json.loads(response.read())
        return answer


# --------------------------------------------------------------------------- load generators

Load = Callable[[int, str, float, dict[str, int]], "HttpRun"]


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def _seconds(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip()).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def wrk_load(port: int, path: str, duration: float, pids: dict[str, int]) -> HttpRun:
    """`wrk -t1 -c64 --latency` with a Lua script that POSTs the JSON body."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            'wrk.method = "POST"\n'
            f"wrk.body = {json.dumps(BODY)}\n"
            'wrk.headers["Content-Type"] = "application/json"\n'
        )
    args = [
        "wrk",
        "-t1",
        f"-c{CONNECTIONS}",
        f"-d{max(1, round(duration))}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        script.name,
        f"http://127.0.0.1:{port}{path}",
    ]
    try:
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        meter = CpuMeter({"wrk": process.pid, **pids}).start()
        assert process.stdout is not None
        output = process.stdout.read()  # EOF: wrk exited; not reaped yet, so its CPU is still readable
        cpu = meter.stop()
        process.wait(timeout=60)
    finally:
        os.unlink(script.name)
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed:\n{output}")
    done = re.search(r"(\d+) requests in ([\d.]+\w+)", output)
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, re.MULTILINE))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if done is None or "50" not in latency:
        raise RuntimeError(f"cannot parse wrk output:\n{output}")
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (sum(map(int, sockets.groups())) if sockets else 0)
    return HttpRun(
        path,
        int(done.group(1)),
        _seconds(done.group(2)),
        _seconds(latency["50"]),
        _seconds(latency["99"]),
        errors,
        cpu,
    )


async def _python_load(port: int, path: str, duration: float) -> tuple[int, int, list[float], float]:
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n{BODY}"
    ).encode()
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + duration

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                writer.write(request)
                status = await reader.readline()
                length, chunked = 0, False
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"transfer-encoding" and b"chunked" in value.lower():
                        chunked = True
                if chunked:  # e.g. Django without CommonMiddleware sets no Content-Length
                    while (size := int((await reader.readline()).split(b";")[0], 16)) > 0:
                        await reader.readexactly(size + 2)
                    await reader.readline()
                else:
                    await reader.readexactly(length)
                if status.split()[1:2] != [b"200"]:
                    errors += 1
                latencies.append(time.perf_counter() - started)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
    return len(latencies), errors, latencies, time.perf_counter() - started


def python_load(port: int, path: str, duration: float, pids: dict[str, int]) -> HttpRun:
    """The fallback load generator: 64 keep-alive connections in this process (see `arun`)."""
    meter = CpuMeter({"client": os.getpid(), **pids}).start()
    count, errors, latencies, seconds = arun(_python_load(port, path, duration))
    stats = LatencyStats.of(latencies)
    return HttpRun(path, count, seconds, stats.p50, stats.p99, errors, meter.stop())


# --------------------------------------------------------------------------- the benchmark


VARIANTS = (
    ("project.settings", "example project (7 default middleware)"),
    ("bench.settings_lean", "MIDDLEWARE = [] (informational)"),
)


def merge(runs: list[HttpRun]) -> HttpRun:
    """Rounds of one view as one: total requests over total time; p50/p99/CPU averaged."""
    n = len(runs)
    cpu = {k: sum(r.cpu.get(k, 0.0) for r in runs) / n for k in runs[0].cpu}
    return HttpRun(
        runs[0].path,
        sum(r.requests for r in runs),
        sum(r.seconds for r in runs),
        sum(r.p50 for r in runs) / n,
        sum(r.p99 for r in runs) / n,
        sum(r.errors for r in runs),
        cpu,
    )


def measure_variant(
    url: str, settings: str, load: Load, warm: float, duration: float, worker_pid: int, rounds: int
) -> dict[str, HttpRun]:
    """uvicorn with `settings`; each view warmed up, then measured in A B B A ... order."""
    port = free_port()
    runs: dict[str, list[HttpRun]] = {path: [] for path in PATHS}
    with start_uvicorn(url, port, settings) as uvicorn:
        for path in PATHS:
            answer = post(port, path)
            if answer != {"count": len(TEXT.split())}:
                raise RuntimeError(f"POST {path} answered {answer!r}")
            load(port, path, warm, {})
        pids = {"uvicorn": uvicorn.pid, "worker": worker_pid}
        nats_pid = find_nats_pid(url)
        if nats_pid is not None:
            pids["nats-server"] = nats_pid
        for round_ in range(rounds):
            for path in PATHS if round_ % 2 == 0 else PATHS[::-1]:
                run_ = load(port, path, duration, pids)
                runs[path].append(run_)
                print(f"  {settings} {path}: {run_.rate:,.0f} req/s", flush=True)
    return {path: merge(found) for path, found in runs.items()}


def run(url: str, quick: bool = False, client: str | None = None) -> Result:
    started = time.monotonic()
    client = client or ("wrk" if shutil.which("wrk") else "python")
    load: Load = wrk_load if client == "wrk" else python_load
    duration = 1.0 if quick else 10.0
    warm = 1.0 if quick else 3.0
    rounds = 1 if quick else 2
    worker = start_runactors(url, ["count-words"], settings="project.settings")
    try:
        results = {
            settings: measure_variant(url, settings, load, warm, duration, worker.pid, rounds)
            for settings, _ in VARIANTS
        }
    finally:
        worker.stop()
    title = (
        f"HTTP: uvicorn + Django, {client} client, {CONNECTIONS} connections, {rounds} x {duration:g}s "
        "per view"
    )
    table = Table(
        title,
        ["settings", "view", "req/s", "vs /no-request", "p50 ms", "p99 ms", "errors", "CPU % of a core"],
    )
    client_name = "wrk" if client == "wrk" else "client"
    for settings, label in VARIANTS:
        runs = results[settings]
        base = runs["/no-request"]
        for path in PATHS:
            r = runs[path]
            cpu = ", ".join(f"{k} {v:.0f}" for k, v in r.cpu.items())
            table.add(
                label,
                f"POST {path}",
                rate(r.rate),
                ratio(r.rate, base.rate),
                ms(r.p50),
                ms(r.p99),
                r.errors,
                cpu,
            )
            busiest = max(r.cpu, key=lambda k: r.cpu[k])
            table.notes.append(
                f"{settings} {path}: busiest process {busiest} ({r.cpu[busiest]:.0f}%), load generator "
                f"{r.cpu.get(client_name, 0):.0f}%, all measured processes {sum(r.cpu.values()):.0f}% "
                f"(the machine has {os.cpu_count()} cores = {100 * (os.cpu_count() or 1)}%)."
            )
    table.notes.append(
        "/count-words awaits walnats request() to the count-words actor; /no-request does "
        "the same JSON work and counts in-process."
    )
    if rounds > 1:
        table.notes.append(
            f"{rounds} rounds per view in A B B A order (cancels drift); req/s = all requests "
            "/ all time; p50, p99 and CPU are the mean over the rounds."
        )
    main_runs = results[VARIANTS[0][0]]
    targets = [
        Target(
            "count-words view req/s vs no-request view",
            VIEW_GOAL,
            main_runs["/count-words"].rate / main_runs["/no-request"].rate,
            higher_is_better=True,
            unit="%",
        )
    ]
    return Result("http", [table], targets, time.monotonic() - started)


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument(
        "--client",
        choices=("wrk", "python"),
        help="Load generator (default: wrk when installed, else the built-in one).",
    )
    args = parser.parse_args()
    with nats_server(args.nats_url) as url:
        finish(run(url, args.quick, args.client), args.json)


if __name__ == "__main__":
    main()
