"""Errors of the task backend; each says when it is raised and what to do."""

from __future__ import annotations

import asyncio
from typing import Any

from ..errors import EventNotRegistered, WalnatsError


class TaskQueueMissing(EventNotRegistered):
    """The queue's stream does not exist yet; run `manage.py runactors` once (it creates the queues)."""


class TaskArgumentsError(WalnatsError, TypeError):
    """A task's arguments cannot be stored as JSON; pass str, int, float, bool, None, lists and dicts."""


class ReturnValueNotStored(WalnatsError, TypeError):
    """Recorded as a task's error: its return value is not JSON or too large; return a reference."""


class WorkerLost(WalnatsError):
    """Recorded as a task's error: the worker running an attempt stopped without storing an outcome."""


class TaskWaitTimeout(WalnatsError, TimeoutError):
    """`wait()` gave up before the task finished; it may still finish later (wait again or refresh)."""


class TaskTimeout(WalnatsError, TimeoutError):
    """Recorded as a task's error: an attempt ran past the backend's JOB_TIMEOUT option."""

    thread: asyncio.Future[Any] | None = None
    """A sync task's call, still running in its thread (threads cannot be stopped)."""
