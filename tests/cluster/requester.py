"""A web process of its own for the cluster suite: `python -m tests.cluster.requester PREFIX LOG`
runs a `Load` against NATS_URL (with the suite's timeouts) until its stdin closes, appending each
ended call to LOG as a line of JSON (`Load.read` reads them).

The test process has one requester connection; this gives a test a second one, on other nodes
(the minority side of a partition).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT


async def _run(prefix: str, log: Path) -> None:
    from django.test import override_settings

    from tests.cluster.load import TIMEOUT, Load

    servers = os.environ["NATS_URL"].split(",")
    with override_settings(WALNATS={"SERVERS": servers, "REQUEST_TIMEOUT": TIMEOUT}):
        async with Load(prefix, log=log):
            print("Load started", flush=True)
            await asyncio.to_thread(sys.stdin.read)


class RequesterProcess:
    """`python -m tests.cluster.requester` on `url`; `stop()` ends its load and waits for it."""

    def __init__(self, url: str, prefix: str, log: Path) -> None:
        self.log = log
        self.errors = log.with_suffix(".stderr")
        """Its log lines (walnats_django's logger writes to stderr)."""
        with open(self.errors, "w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.cluster.requester", prefix, str(log)],
                cwd=ROOT,
                env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "NATS_URL": url},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )

    def wait_started(self) -> None:
        """Block until its load runs; `AssertionError` with its log if it exited first."""
        assert self.process.stdout is not None
        if "Load started" not in self.process.stdout.readline():  # "" once it exited
            self.kill()
            raise AssertionError(f"the requester did not start: {self.errors.read_text()}")

    def stop(self, timeout: float = 30.0) -> None:
        """Close its stdin: the load stops starting calls, its running ones end, it exits 0."""
        self.process.communicate(timeout=timeout)
        assert self.process.returncode == 0, self.errors.read_text()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


if __name__ == "__main__":
    import django

    django.setup()
    asyncio.run(_run(sys.argv[1], Path(sys.argv[2])))
