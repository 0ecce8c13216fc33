"""Run the whole benchmark suite on one fresh nats-server and write bench/RESULTS.md.

    python bench/run_all.py            # the full suite (several minutes)
    python bench/run_all.py --quick    # a smoke run with small counts (under a minute)

Each benchmark runs in its own process (`python -m bench.<name> --nats-url URL --json FILE`)
against the same server; its tables and targets are collected into one Markdown report.
`--only NAME` (repeatable) runs a subset; `--output FILE` writes the report elsewhere.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    # Run as a file: make the repository importable as the `bench` package's parent.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._common import LOOP_ENV, PYTHON, ROOT, Result, Table, child_env, loop_name, targets_table

BENCHMARKS = ("request_latency", "jetstream_floor", "placement", "emit_drain", "http_load", "memory", "tasks")
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def run_benchmark(name: str, url: str, quick: bool) -> Result:
    """One benchmark in a subprocess; its output streams through, its JSON result comes back."""
    with tempfile.TemporaryDirectory(prefix="walnats-bench-") as tmp:
        out = Path(tmp) / f"{name}.json"
        args = [PYTHON, "-m", f"bench.{name}", "--nats-url", url, "--json", str(out)]
        if quick:
            args.append("--quick")
        started = time.monotonic()
        code = subprocess.call(args, cwd=ROOT, env=child_env(url))
        if code != 0 or not out.exists():
            raise RuntimeError(f"bench.{name} failed with exit code {code}")
        result = Result.from_dict(json.loads(out.read_text()))
        result.seconds = time.monotonic() - started
        return result


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def code_fingerprint() -> str:
    """A short hash of walnats_django's source as it is on disk (other people may edit it mid-run)."""
    digest = hashlib.sha1()
    for path in sorted((ROOT / "walnats_django").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:10]


def revision() -> str:
    """The commit measured, whether walnats_django had uncommitted changes, and its source hash."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("log", "-1", "--format=%h %s") or "unknown commit"
    if len(commit) > 70:
        commit = commit[:67] + "..."
    dirty = git("status", "--porcelain", "--", "walnats_django").splitlines()
    changes = f", uncommitted changes in {len(dirty)} file(s)" if dirty else ""
    return f"{commit} (walnats_django source {code_fingerprint()}{changes})"


def load_average() -> str:
    try:
        return " / ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def machine_info(revision_at_start: str, load_at_start: str) -> Table:
    from walnats_django.testing import find_nats_server

    nats_bin = find_nats_server()
    nats_version = subprocess.run([nats_bin, "--version"], capture_output=True, text=True).stdout.strip()
    import importlib.metadata

    import django

    try:
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{mem_kib / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        memory = "unknown"
    choice = os.environ.get(LOOP_ENV, "auto")
    runactors_loop = f"--loop {choice}" if choice != "auto" else "its default (auto: uvloop when installed)"
    table = Table("Machine", ["", ""])
    for key, value in [
        ("date", datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("CPU", cpu_model()),
        ("cores (os.cpu_count)", str(os.cpu_count())),
        ("memory", memory),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("nats-server", f"{nats_version} (JetStream, file store in a temp dir, loopback)"),
        ("walnats_django revision", revision_at_start),
        (
            "load average 1/5/15 min",
            f"{load_at_start} before the run, {load_average()} after (other "
            "processes on the machine skew the numbers)",
        ),
        (
            "event loops",
            f"{loop_name()} in the bench processes (requester, core responder, load "
            f"generator); runactors: {runactors_loop}; uvicorn: --loop uvloop",
        ),
        ("nats-py / Django", f"{importlib.metadata.version('nats-py')} / {django.get_version()}"),
    ]:
        table.add(key, value)
    return table


def report(results: list[Result], machine: Table, quick: bool, seconds: float) -> str:
    targets = [t for r in results for t in r.targets]
    lines = [
        "# walnats_django benchmarks"
        + (" (quick smoke run: small counts, not representative)" if quick else ""),
        "",
        f"Generated by `python bench/run_all.py{' --quick' if quick else ''}` in {seconds:.0f} s. Every "
        "ratio compares against a baseline measured in the same run, on the same nats-server.",
        "",
        machine.render(),
        targets_table(targets).render(),
    ]
    for result in results:
        lines.append(f"## {result.name} ({result.seconds:.0f} s)\n")
        lines.append(result.render())
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="Small counts: a smoke run (< 60 s).")
    parser.add_argument("--only", action="append", choices=BENCHMARKS, help="Run only this benchmark.")
    parser.add_argument("--nats-url", help="Use this nats-server instead of starting one.")
    parser.add_argument(
        "--loop",
        choices=("auto", "asyncio", "uvloop"),
        help=f"Event loop of every benchmark process and runactors (default: auto, uvloop "
        f"when installed; also ${LOOP_ENV}).",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"Report file (default: {RESULTS}).")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    if args.loop:
        os.environ[LOOP_ENV] = args.loop
    from bench._common import nats_server

    started = time.monotonic()
    revision_at_start = revision()
    load_at_start = load_average()
    results: list[Result] = []
    with nats_server(args.nats_url) as url:
        for name in args.only or BENCHMARKS:
            print(f"== {name} ==", flush=True)
            results.append(run_benchmark(name, url, args.quick))
    machine = machine_info(revision_at_start, load_at_start)
    if revision() != revision_at_start:
        machine.add("WARNING", f"walnats_django changed during the run (now: {revision()}); re-run")
    text = report(results, machine, args.quick, time.monotonic() - started)
    args.output.write_text(text)
    print("\n" + text)
    print(f"(written to {args.output})")


if __name__ == "__main__":
    main()
