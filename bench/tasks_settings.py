"""Settings of the tasks benchmark: `bench.settings` plus Django's Tasks API on two backends.

`walnats` is WalnatsBackend (queue `bench`, run by `runactors --queue bench`); `db` is
django-tasks-db's DatabaseBackend (run by `db_worker --backend db`) on a SQLite file that
bench/tasks.py creates and names in WALNATS_BENCH_TASKS_DB.
"""

import os

from django.core.exceptions import ImproperlyConfigured

from bench.settings import *  # noqa: F403

DB_ENV = "WALNATS_BENCH_TASKS_DB"

INSTALLED_APPS = [*INSTALLED_APPS, "django_tasks", "django_tasks_db"]  # noqa: F405
if DB_ENV not in os.environ:
    raise ImproperlyConfigured(
        f"Set {DB_ENV} to a SQLite file path (bench/tasks.py sets it for its processes)."
    )
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ[DB_ENV],
        # SQLite as Django projects run it under concurrent load: readers (the enqueuing process
        # polling get_result) never block the worker's writes (WAL), a commit syncs the log only at
        # checkpoints (NORMAL: JetStream's file store does not sync each message either), and a
        # writer takes its lock up front instead of failing with "database is locked" (IMMEDIATE).
        "OPTIONS": {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
        },
    }
}
TASKS = {
    "walnats": {"BACKEND": "walnats_django.tasks.WalnatsBackend", "QUEUES": ["bench"]},
    "db": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]},
}
