"""Benchmark settings: the example project plus `bench.benchapp` (no-op events and actors)."""

from project.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "bench.benchapp"]  # noqa: F405
# The benchmarks never touch the database; keep them off the example's var/db.sqlite3.
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
