"""`runactors --reload`: a new worker process whenever code changes, with Django's autoreloader.

As with runserver, the process you start only supervises: it runs the command again as a child with
`RUN_MAIN=true` and starts a new child whenever one exits with code 3. Unlike runserver's child,
ours runs the worker in its main thread (signal handlers, a graceful stop) and Django's reloader in
a thread: a change stops the worker gracefully, then the child exits with 3. A child that fails (a
syntax error in an actor) leaves the supervisor waiting for the next change, as runserver keeps
watching after one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import sysconfig
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FrameType
from typing import Any

from django.apps import apps
from django.utils import autoreload

from ..worker import Worker

logger = logging.getLogger("walnats_django.reload")

RELOAD_EXIT_CODE = 3
"""What a child exits with to be started again (Django's `autoreload.trigger_reload` uses it too)."""
RELOAD_GRACE = 5.0
"""Seconds running jobs get to finish on a reload; then they are handed back to the next worker."""
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def is_reloader_child() -> bool:
    """Whether this process is the child a reloading supervisor started."""
    return os.environ.get(autoreload.DJANGO_AUTORELOAD_ENV) == "true"


def project_app_dirs() -> list[Path]:
    """Directories of the installed apps outside the Python installation: the project's own code."""
    installation = {Path(path).resolve() for path in sysconfig.get_paths().values()}
    installation |= {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    dirs = [Path(app.path).resolve() for app in apps.get_app_configs()]
    return [path for path in dirs if not any(path.is_relative_to(root) for root in installation)]


class CodeWatcher:
    """Django's reloader in a thread of its own; `on_change(path)` once, when a watched file changed.

    It watches what runserver watches (the modules imported so far, and files other apps add on
    `autoreload_started`) plus `**/*.py` under `extra_dirs`. Django's `file_changed` receivers still
    decide (a template change only resets the template loaders). With `parent_pid`,
    `on_parent_gone()` is called once that process is gone, so a child never outlives its supervisor.
    """

    def __init__(
        self,
        on_change: Callable[[Path | None], None],
        *,
        extra_dirs: Iterable[Path] = (),
        parent_pid: int | None = None,
        on_parent_gone: Callable[[], None] = lambda: None,
    ) -> None:
        self.reloader = autoreload.get_reloader()
        for directory in extra_dirs:
            self.reloader.watch_dir(directory, "**/*.py")
        self.watching = threading.Event()
        """Set once the first look at the files is taken: later changes are noticed."""
        self._on_change = on_change
        self._parent_pid = parent_pid
        self._on_parent_gone = on_parent_gone
        self._thread = threading.Thread(target=self._run, name="walnats-code-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (within one tick of the reloader, about a second)."""
        self.reloader.stop()

    def _run(self) -> None:
        changed: list[Path] = []

        def remember(sender: object, file_path: Path, **kwargs: Any) -> None:
            changed.append(file_path)

        autoreload.file_changed.connect(remember, sender=self.reloader, weak=False)
        autoreload.autoreload_started.send(sender=self.reloader)
        ticker = self.reloader.tick()
        try:
            while not self.reloader.should_stop:
                next(ticker)
                if not self.watching.is_set():
                    logger.info("Watching for file changes with %s", type(self.reloader).__name__)
                    self.watching.set()
                if self._parent_pid is not None and os.getppid() != self._parent_pid:
                    self._on_parent_gone()
                    return
        except SystemExit as exit:  # autoreload.trigger_reload: a file changed that nobody handled
            if exit.code == RELOAD_EXIT_CODE:
                self._on_change(changed[-1] if changed else None)
        finally:
            autoreload.file_changed.disconnect(remember, sender=self.reloader)
            self.reloader.stop()


class ReloadingWorker:
    """In the child: stop the worker gracefully when code changes, then exit with `exit_code`.

    Running jobs get `RELOAD_GRACE` seconds (or the shorter shutdown timeout); later ones are
    handed back (nak'd), so the next worker runs them at once. A stop signal turns a pending reload
    into a plain stop.
    """

    def __init__(self, worker: Worker, loop: asyncio.AbstractEventLoop) -> None:
        self.worker = worker
        self.loop = loop
        self.reload_requested = False
        self._stopping = False
        self._watcher = CodeWatcher(
            lambda path: self._call(self._reload, path),
            parent_pid=os.getppid(),
            on_parent_gone=lambda: self._call(self._parent_gone),
        )

    @property
    def exit_code(self) -> int:
        return RELOAD_EXIT_CODE if self.reload_requested else 0

    def start(self) -> None:
        self._watcher.start()

    def cancel(self) -> None:
        """A stop signal arrived: stop watching, and stop for good rather than for a reload."""
        self._stopping = True
        self.reload_requested = False
        self._watcher.stop()

    def close(self) -> None:
        """The worker has ended: stop watching."""
        self._watcher.stop()

    def _call(self, callback: Callable[..., None], *args: Any) -> None:
        """Run `callback` on the worker's loop (from the watcher thread)."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: the worker has ended
            self.loop.call_soon_threadsafe(callback, *args)

    def _reload(self, path: Path | None) -> None:
        if self._stopping or self.reload_requested:
            return
        self.reload_requested = True
        grace = min(self.worker.shutdown_timeout, RELOAD_GRACE)
        self.worker.shutdown_timeout = grace
        logger.info(
            "%s changed; stopping the worker to start a new one (running jobs get up to %gs)",
            path or "A watched file",
            grace,
        )
        self.worker.stop()

    def _parent_gone(self) -> None:
        if not self._stopping:
            logger.warning("The runactors --reload process is gone; stopping the worker")
            self.cancel()
            self.worker.stop()


class ReloadSupervisor:
    """The process the developer started: runs the worker command as a child, again on each reload.

    SIGINT and SIGTERM are forwarded to the child, which stops gracefully (a second one forces it);
    the child has a process group of its own, so a terminal's Ctrl-C reaches it once, through here.
    """

    def __init__(self, args: list[str], *, watch_dirs: Iterable[Path] = ()) -> None:
        self.args = args
        self.watch_dirs = list(watch_dirs)
        self._child: subprocess.Popen[bytes] | None = None
        self._stopping = False

    def run(self) -> int:
        """Run children until a stop signal; the exit code for the command."""
        previous = {signum: signal.signal(signum, self._on_signal) for signum in FORWARDED_SIGNALS}
        try:
            return self._loop()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _loop(self) -> int:
        while True:
            code = self._run_child()
            if self._stopping:
                return 0 if code == RELOAD_EXIT_CODE else code
            if code == RELOAD_EXIT_CODE:
                continue
            if code == 0:
                return 0  # stopped on its own (a signal sent to it directly)
            logger.error(
                "The worker exited with code %d; fix the error above, a new one starts when a file changes",
                code,
            )
            if not self._wait_for_change():
                return 0

    def _run_child(self) -> int:
        env = {**os.environ, autoreload.DJANGO_AUTORELOAD_ENV: "true"}
        self._child = subprocess.Popen(self.args, env=env, process_group=0)
        try:
            return self._child.wait()
        finally:
            self._child = None

    def _wait_for_change(self) -> bool:
        """Block until a watched file changes (True) or a stop signal arrives (False)."""
        changed = threading.Event()
        watcher = CodeWatcher(lambda path: changed.set(), extra_dirs=self.watch_dirs)
        watcher.start()
        try:
            while not changed.wait(0.1):
                if self._stopping:
                    return False
            return True
        finally:
            watcher.stop()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True
        child = self._child
        if child is not None and child.poll() is None:
            child.send_signal(signum)
