"""Django's Tasks API on walnats-django.

`TASKS = {"default": {"BACKEND": "walnats_django.tasks.WalnatsBackend"}}`; `runactors` runs the queues.
"""

from .backend import WalnatsBackend
from .errors import (
    ReturnValueNotStored,
    TaskArgumentsError,
    TaskQueueMissing,
    TaskTimeout,
    TaskWaitTimeout,
    WorkerLost,
)
from .wait import wait, wait_sync

__all__ = [
    "ReturnValueNotStored",
    "TaskArgumentsError",
    "TaskQueueMissing",
    "TaskTimeout",
    "TaskWaitTimeout",
    "WalnatsBackend",
    "WorkerLost",
    "wait",
    "wait_sync",
]
