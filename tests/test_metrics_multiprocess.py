"""`metrics_view` under a pre-forking server: with PROMETHEUS_MULTIPROC_DIR set, each process writes
its counts there and the view reports the sum of every process (prometheus_client's multiprocess
mode), here two real processes one after the other."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.helpers import ROOT

ONE_PROCESS = textwrap.dedent(
    """
    import django
    django.setup()
    from django.test import RequestFactory
    from walnats_django import Event
    from walnats_django.metrics import MetricsObserver, metrics_view
    from walnats_django.observe import PublishKind

    MetricsObserver().publishing(PublishKind.EMIT, Event("mp.note", str), {}, 1).done(None)
    text = metrics_view(RequestFactory().get("/metrics")).content.decode()
    print(next(line for line in text.splitlines() if line.startswith("walnats_emits_total{")))
    """
)


def test_the_view_sums_the_processes_that_share_prometheus_multiproc_dir(tmp_path: Path) -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path)
    seen = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", ONE_PROCESS], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        seen.append(done.stdout.strip())
    assert seen == [
        'walnats_emits_total{event="mp.note",outcome="ok"} 1.0',
        'walnats_emits_total{event="mp.note",outcome="ok"} 2.0',
    ]
