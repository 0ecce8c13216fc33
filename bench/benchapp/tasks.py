"""The tasks benchmark's task, once per backend: Django runs a task on the backend it names.

Imported only under `bench.tasks_settings` (the `@task` decorator checks its backend exists).
"""

from __future__ import annotations

try:
    from django.tasks import task  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # Django 5.2: the django-tasks backport
    from django_tasks import task


def _count_words(text: str) -> int:
    return len(text.split())


@task(backend="walnats", queue_name="bench")
def count_words_walnats(text: str) -> int:
    """The words of `text`, on WalnatsBackend (run by `runactors --queue bench`)."""
    return _count_words(text)


@task(backend="db")
def count_words_db(text: str) -> int:
    """The words of `text`, on django-tasks-db's DatabaseBackend (run by `db_worker --backend db`)."""
    return _count_words(text)
