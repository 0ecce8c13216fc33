"""Starting test workers that are ready when returned, and cleaning up after them.

"Ready" means what a request needs: each actor's durable consumer exists and has a pull open.
Task queues (TASKS with WalnatsBackend) count as actors, named as `runactors` names their
consumers (`tasks-<queue>`), and run unless actors are chosen, as in `runactors`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings

from ..actors import Actor
from ..conf import walnats_settings
from ..registry import registry
from .consumers import purge_streams, run_async, wait_until_pulling
from .live_worker import InProcessWorker, LiveWorker, SubprocessWorker
from .subprocess_settings import base_settings_module, import_path, write_settings_module
from .task_queues import queue_actors

READY_TIMEOUT = 30.0
"""Seconds a worker gets to open its pulls (a subprocess imports Django first)."""

ActorChoice = Iterable[str | Actor[Any, Any]] | None
"""Actors by name or object (a task queue's actor is `tasks-<queue>`); None for every registered
actor and every task queue."""


class LiveWorkers:
    """Starts workers on the test run's NATS server (`start`), stops them all (`stop_all`).

    `settings_dir` makes an empty directory for a subprocess's settings module;
    `before_subprocess` runs first (the pytest plugin sets up the test databases there).
    """

    def __init__(
        self,
        *,
        settings_dir: Callable[[], Path],
        before_subprocess: Callable[[], None] = lambda: None,
        ready_timeout: float = READY_TIMEOUT,
    ) -> None:
        self._settings_dir = settings_dir
        self._before_subprocess = before_subprocess
        self.ready_timeout = ready_timeout
        self.started: list[LiveWorker] = []
        """Every worker started, stopped or not, oldest first."""

    def start(self, actors: ActorChoice = None, *, subprocess: bool = False) -> LiveWorker:
        """Run `actors` (default: all registered, and the task queues) in a thread of this process,
        or as a `runactors` subprocess; return once every one of them has its pull open."""
        queues = queue_actors()
        chosen = _select(actors, queues)
        worker: LiveWorker
        if subprocess:
            by_actor = {actor.name: queue for queue, actor in queues.items()}
            selection = [] if actors is None else [_option(actor.name, by_actor) for actor in chosen]
            worker = self._subprocess(chosen, [arg for option in selection for arg in option])
        else:
            worker = InProcessWorker(chosen)
        self.started.append(worker)
        try:
            run_async(wait_until_pulling(chosen, timeout=self.ready_timeout, check_alive=worker.check_alive))
        except Exception as exc:
            with contextlib.suppress(Exception):  # the failure to start is the news; this is cleanup
                worker.stop()
            log = worker.log()
            if isinstance(exc, TimeoutError) and log:
                raise TimeoutError(f"{exc}\n{worker.name}:\n{log}") from None
            raise
        return worker

    def _subprocess(self, actors: tuple[Actor[Any, Any], ...], selection: list[str]) -> SubprocessWorker:
        self._before_subprocess()
        directory = self._settings_dir()
        module = write_settings_module(
            directory,
            base=base_settings_module(),
            servers=walnats_settings.SERVERS,
            database_names={alias: db.get("NAME") for alias, db in django_settings.DATABASES.items()},
        )
        return SubprocessWorker(
            actors, selection=selection, settings_module=module, pythonpath=import_path(directory)
        )

    def stop_all(self) -> None:
        """Stop every worker, newest first; then raise the first failure, if any."""
        failures: list[Exception] = []
        for worker in reversed(self.started):
            try:
                worker.stop()
            except Exception as exc:  # noqa: BLE001 - stop the others first, then report
                failures.append(exc)
        if failures:
            raise failures[0]

    def purge(self) -> None:
        """Empty the streams of every registered event, of the task queues and of the started
        actors' events."""
        events = [
            *registry.events,
            *(actor.event for actor in queue_actors().values()),
            *(actor.event for worker in self.started for actor in worker.actors),
        ]
        if events:
            run_async(purge_streams(events))


def _select(actors: ActorChoice, queues: dict[str, Actor[Any, Any]]) -> tuple[Actor[Any, Any], ...]:
    if actors is None:
        return (*registry.actors, *queues.values())
    items = list(actors)
    queue_actors_by_name = {actor.name: actor for actor in queues.values()}
    names = [item for item in items if isinstance(item, str) and item not in queue_actors_by_name]
    by_name = {actor.name: actor for actor in registry.select_actors(names)} if names else {}
    by_name.update(queue_actors_by_name)
    return tuple(by_name[item] if isinstance(item, str) else item for item in items)


def _option(name: str, queue_by_actor: dict[str, str]) -> tuple[str, str]:
    """The `runactors` option that runs actor `name`: `--queue` for a task queue's actor."""
    return ("--queue", queue_by_actor[name]) if name in queue_by_actor else ("--actor", name)
