"""Fixtures of the admin tests: the admin app's events in this process's registry, and a worker for them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers import StartWorker, WorkerProcess
from walnats_django import registry

from .bus import ITEMS, SETTINGS, WORKER_ARGS


@pytest.fixture
def admin_bus() -> Iterator[None]:
    """The admin app's events and actors registered in this process while the test runs."""
    for item in ITEMS:
        registry.add(item)
    yield
    for item in ITEMS:
        registry.remove(item)


@pytest.fixture(scope="module")
def admin_worker(start_worker: StartWorker) -> Iterator[WorkerProcess]:
    """A `runactors` worker hosting the admin app's actors (their streams exist once it started)."""
    worker = start_worker(*WORKER_ARGS, extra_env={"DJANGO_SETTINGS_MODULE": SETTINGS})
    yield worker
    worker.stop()
