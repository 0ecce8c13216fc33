"""Test settings: the example project plus an app with actors for every failure mode."""

import os
import tempfile
from pathlib import Path

from project.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp", "django_tasks"]  # noqa: F405
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
# tests/test_outbox_relay.py: a file database that the test and its `relayoutbox --database relay`
# subprocesses share (the test passes its path on in WALNATS_TEST_RELAY_DB).
RELAY_DB = env.str(  # noqa: F405
    "WALNATS_TEST_RELAY_DB", default=str(Path(tempfile.gettempdir()) / f"walnats-relay-{os.getpid()}.sqlite3")
)
DATABASES["relay"] = {
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": RELAY_DB,
    "TEST": {"NAME": RELAY_DB, "DEPENDENCIES": []},  # set up on its own when a test asks for it alone
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
WALNATS = {"REQUEST_TIMEOUT": 4.0}
if env.str("WALNATS_TEST_INBOX_PREFIX", default=""):  # noqa: F405
    WALNATS["INBOX_PREFIX"] = env.str("WALNATS_TEST_INBOX_PREFIX")  # noqa: F405
# tests/cluster/: workers on a three-node cluster create R3 streams.
if env.str("WALNATS_TEST_REPLICAS", default=""):  # noqa: F405
    WALNATS["REPLICAS"] = env.int("WALNATS_TEST_REPLICAS")  # noqa: F405
LOGGING["loggers"]["walnats_django"]["level"] = "DEBUG"  # type: ignore[index]  # noqa: F405
# tests/test_tasks*.py: Django's Tasks API on walnats (tasks in tests/testapp/tasks.py). "default" retries
# twice; "strict" never retries and times out fast. ACK_WAIT 1: a killed worker's task moves on in ~1 s.
TASKS = {
    "default": {
        "BACKEND": "walnats_django.tasks.WalnatsBackend",
        "QUEUES": ["default"],
        "OPTIONS": {"RETRIES": 2, "RETRY_DELAY": [0.1, 0.2], "JOB_TIMEOUT": 10, "ACK_WAIT": 1},
    },
    "strict": {
        "BACKEND": "walnats_django.tasks.WalnatsBackend",
        "QUEUES": ["strict"],
        "OPTIONS": {"JOB_TIMEOUT": 0.5, "ACK_WAIT": 1, "RESULT_TTL": 600},
    },
}
