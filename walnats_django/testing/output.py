"""A reader of a subprocess's output lines, for tests, the benchmarks and `runexample`."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from typing import IO

from ..errors import ProcessExited


class OutputLines:
    """The text output of a subprocess, read line by line by a thread of its own.

    Start the process with `stdout=subprocess.PIPE` and `text=True` (and
    `stderr=subprocess.STDOUT` to get both streams). `wait_for()` blocks until a line
    containing a text appears; `mark()` is a position to pass as `since`, so that only
    newer lines count. `on_line` sees each line as it arrives (`runexample` forwards
    them); with `keep=False` lines are not kept, for a long-running process whose output
    is only forwarded.
    """

    def __init__(
        self,
        process: subprocess.Popen[str],
        *,
        name: str = "process",
        on_line: Callable[[str], None] | None = None,
        keep: bool = True,
        show_last: int | None = None,
    ) -> None:
        if process.stdout is None:
            raise ValueError("OutputLines needs a process started with stdout=subprocess.PIPE.")
        self.process = process
        self.name = name
        """Names the process in error messages."""
        self.show_last = show_last
        """How many of the last lines an error message shows (None: all of them)."""
        self.lines: list[str] = []
        """The lines so far, without their line breaks."""
        self.times: list[float] = []
        """When each line arrived (`time.monotonic()`)."""
        self._on_line = on_line
        self._keep = keep
        self._changed = threading.Condition()
        self._ended = False
        self._thread = threading.Thread(
            target=self._read, args=(process.stdout,), name=f"output-{name}", daemon=True
        )
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        try:
            for raw in stream:
                line = raw.rstrip("\n")
                if self._on_line is not None:
                    self._on_line(line)
                if self._keep:
                    with self._changed:
                        self.times.append(time.monotonic())
                        self.lines.append(line)
                        self._changed.notify_all()
        finally:
            with self._changed:
                self._ended = True
                self._changed.notify_all()

    def mark(self) -> int:
        """The number of lines so far: pass it as `since` to ignore older lines."""
        return len(self.lines)

    def wait_for(self, needle: str, timeout: float, since: int = 0) -> int:
        """Block until a line at or after line `since` contains `needle`; return its index.

        `TimeoutError` after `timeout` seconds; `ProcessExited` as soon as the process has
        ended without printing it. Both messages end with the output (see `show_last`).
        """
        if not self._keep:
            raise ValueError("OutputLines(keep=False) keeps no lines to wait for.")
        deadline = time.monotonic() + timeout
        seen = since
        with self._changed:
            while True:
                for index in range(seen, len(self.lines)):
                    if needle in self.lines[index]:
                        return index
                seen = max(seen, len(self.lines))
                if self._ended and self.process.poll() is not None:
                    raise ProcessExited(
                        f"{self.name} exited with {self.process.returncode} before a line with "
                        f"{needle!r}:\n{self.log(self.show_last)}"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"{self.name}: no line with {needle!r} within {timeout:g}s:\n"
                        + self.log(self.show_last)
                    )
                # Also wakes up now and then: the process may end after its output did.
                self._changed.wait(min(remaining, 0.2))

    def log(self, last: int | None = None) -> str:
        """The lines so far as one text; only the `last` ones if given."""
        return "\n".join(self.lines if last is None else self.lines[-last:])

    def join(self, timeout: float | None = None) -> None:
        """Wait until every line is read (the process ended and its pipe is empty)."""
        self._thread.join(timeout)
