"""The sync twins (`emit_sync`, `request_sync`) and the background event loop they run on."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from tests.helpers import ROOT
from walnats_django.testing import NatsServer


def test_sync_twins_work_in_a_forked_child(nats_server: NatsServer) -> None:
    """sync.py:24-36: the background loop's thread does not survive `fork()`.

    A pre-forking server (gunicorn --preload, uWSGI without lazy-apps) whose master used a
    sync twin once (or the admin page, or a ready() hook) hands each worker a `_loop` that
    is not closed but has no thread: `run_coroutine_threadsafe(...).result()` waits forever.
    """
    script = textwrap.dedent("""
        import os, signal
        import django
        django.setup()
        import walnats_django
        from walnats_django import Event
        EVENT = Event("review.fork", str)
        walnats_django.emit_sync(EVENT, "parent")
        pid = os.fork()
        if pid == 0:
            signal.alarm(5)  # the default action kills the child if it hangs
            walnats_django.emit_sync(EVENT, "child")
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        print("child exit", os.waitstatus_to_exitcode(status), flush=True)
    """)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "NATS_URL": nats_server.url}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
    )
    assert "child exit 0" in done.stdout, done.stdout + done.stderr
