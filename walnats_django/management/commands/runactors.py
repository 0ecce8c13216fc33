"""`manage.py runactors`: host the registered actors, and the task queues of TASKS, as JetStream
durable consumers."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import autoreload

from walnats_django.actors import Actor
from walnats_django.errors import ConsumerLost, JetStreamDisabled, NatsUnavailable, StreamConfigConflict
from walnats_django.management.console import log_to_console
from walnats_django.management.reloading import (
    RELOAD_GRACE,
    ReloadingWorker,
    ReloadSupervisor,
    is_reloader_child,
    project_app_dirs,
)
from walnats_django.observe import ExtraNotInstalled, MetricsServerError, configure
from walnats_django.registry import registry
from walnats_django.validation import positive_number_problem
from walnats_django.worker import Worker

T = TypeVar("T", int, float)

logger = logging.getLogger("walnats_django.worker")


def positive_int(value: str) -> int:
    """argparse type: an int >= 1."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    return _positive(number, integer=True)


def positive_float(value: str) -> float:
    """argparse type: a number of seconds > 0."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    return _positive(number, integer=False)


def port_number(value: str) -> int:
    """argparse type: a TCP port, 0 (any free port) to 65535."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{number} is not a port number (0 to 65535; 0 picks a free port)")
    return number


def serve_metrics(addr: str, port: int) -> Callable[[], None]:
    """Serve this process's metrics and record them; return the function that stops the server."""
    try:
        from walnats_django.metrics import serve_metrics

        url, stop = serve_metrics(addr, port)
    except (ExtraNotInstalled, MetricsServerError) as exc:
        raise CommandError(f"--metrics-port: {exc}") from exc
    configure(metrics=True)
    logger.info("Serving metrics url=%s", url)
    return stop


def _positive(number: T, *, integer: bool) -> T:
    problem = positive_number_problem(number, integer=integer, what="the value")
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return number


def _loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop when asked for or (auto) installed: it roughly halves the per-message loop cost."""
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise CommandError("--loop uvloop: uvloop is not installed (pip install uvloop).") from None
        else:
            return uvloop.new_event_loop
    return asyncio.new_event_loop


def task_queue_actors(names: list[str] | None) -> list[Actor[Any, Any]]:
    """The actors of the task queues to run (`names`, or all), or none without Django's Tasks."""
    try:
        from walnats_django.tasks.queues import select_queues
        from walnats_django.tasks.runner import queue_actor
    except ModuleNotFoundError as exc:
        if exc.name not in ("django_tasks", "django.tasks"):
            raise
        if names:
            raise CommandError(
                f"--queue needs Django's Tasks framework ({exc}); pip install 'walnats-django[tasks]'."
            ) from exc
        return []
    try:
        queues = select_queues(names)
        task_actors = [queue_actor(queue) for queue in queues]
    except (LookupError, ImproperlyConfigured) as exc:
        raise CommandError(str(exc)) from exc
    if queues:
        logger.info(
            "Task queues queues=%s backends=%s",
            ",".join(queue.name for queue in queues),
            ",".join(dict.fromkeys(queue.alias for queue in queues)),
        )
    return task_actors


def task_threads() -> int:
    """Sync task functions still running in threads."""
    from walnats_django.tasks.calls import running_threads

    return running_threads()


class Command(BaseCommand):
    help = (
        "Run the registered actors and the task queues of TASKS (walnats_django.tasks.WalnatsBackend): "
        "pull their messages from NATS JetStream and handle them. "
        "-v 0 shows only problems, -v 2 every job, -v 3 also nats-py's log."
    )

    reloading: ReloadingWorker | None = None
    """With --reload, in the worker process: stops the worker when code changes."""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--actor",
            action="append",
            dest="actors",
            metavar="NAME",
            help="Run only this actor (repeatable). Default: all registered actors. "
            "With --queue and no --actor: no actors.",
        )
        parser.add_argument(
            "--queue",
            action="append",
            dest="queues",
            metavar="NAME",
            help="Run only this task queue (repeatable). Default: every queue of every "
            "walnats_django.tasks.WalnatsBackend in TASKS. With --actor and no --queue: no queues.",
        )
        parser.add_argument(
            "--no-tasks",
            action="store_true",
            help="Do not run task queues, only actors.",
        )
        parser.add_argument(
            "--max-jobs",
            type=positive_int,
            default=None,
            help="Jobs at once in this process across all actors "
            "(default: no shared cap; each actor runs at most its max_jobs).",
        )
        parser.add_argument(
            "--batch",
            type=positive_int,
            default=None,
            help="Messages per pull request (default: each actor's max_jobs).",
        )
        parser.add_argument(
            "--burst",
            action="store_true",
            help="Exit once the actors have nothing pending, in progress or waiting for a retry "
            "(cron jobs, tests); exit 1 when NATS cannot be reached within CONNECT_TIMEOUT.",
        )
        parser.add_argument(
            "--no-register",
            action="store_false",
            dest="register",
            help="Do not create or update streams and consumers; use existing ones.",
        )
        parser.add_argument(
            "--loop",
            choices=("auto", "asyncio", "uvloop"),
            default="auto",
            help="Event loop: uvloop when installed (auto, the default), or asyncio.",
        )
        parser.add_argument(
            "--shutdown-timeout",
            type=positive_float,
            default=None,
            help="Seconds running jobs get to finish after SIGINT/SIGTERM "
            "(default: WALNATS['SHUTDOWN_TIMEOUT'], 30).",
        )
        parser.add_argument(
            "--metrics-port",
            type=port_number,
            default=None,
            metavar="PORT",
            help="Serve this process's Prometheus metrics (jobs, durations, pulls, reconnects) on "
            "http://ADDR:PORT/metrics; 0 picks a free port. Needs the metrics extra (prometheus-client).",
        )
        parser.add_argument(
            "--metrics-addr",
            default=None,
            metavar="ADDR",
            help="The address the metrics server listens on (default 127.0.0.1; 0.0.0.0 in a container "
            "that Prometheus scrapes from outside).",
        )
        parser.add_argument(
            "--reload",
            action="store_true",
            help="Start a new worker process when a Python file changes (development, as runserver does); "
            f"running jobs get up to {RELOAD_GRACE:g}s, then the new worker runs them again.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["reload"] and options["burst"]:
            raise CommandError(
                "--reload and --burst do not go together: --burst exits once the work is done, "
                "--reload keeps starting new workers. Drop one of them."
            )
        if options["queues"] and options["no_tasks"]:
            raise CommandError("--queue and --no-tasks contradict each other; drop one of them.")
        if options["metrics_addr"] is not None and options["metrics_port"] is None:
            raise CommandError("--metrics-addr needs --metrics-port (the port to serve metrics on).")
        log_to_console(options["verbosity"], sys.stderr)
        # Naming actors or queues runs just those; naming neither runs everything.
        run_actors = bool(options["actors"]) or not options["queues"]
        run_tasks = not options["no_tasks"] and (bool(options["queues"]) or not options["actors"])
        try:
            actors = registry.select_actors(options["actors"]) if run_actors else ()
        except LookupError as exc:
            raise CommandError(str(exc)) from exc
        task_actors = task_queue_actors(options["queues"]) if run_tasks else []
        if not actors and not task_actors:
            hint = "" if not run_tasks else " (or configure TASKS with walnats_django.tasks.WalnatsBackend)"
            raise CommandError(f"No actors are registered; add some in an app's actors.py{hint}.")
        actors = (*actors, *task_actors)
        if options["reload"] and not is_reloader_child():
            supervisor = ReloadSupervisor(autoreload.get_child_arguments(), watch_dirs=project_app_dirs())
            code = supervisor.run()
            if code:
                sys.exit(code if code > 0 else 128 - code)
            return
        worker = Worker(
            actors,
            batch=options["batch"],
            max_jobs=options["max_jobs"],
            burst=options["burst"],
            register=options["register"],
            shutdown_timeout=options["shutdown_timeout"],
        )
        stop_metrics = None
        if options["metrics_port"] is not None:
            stop_metrics = serve_metrics(options["metrics_addr"] or "127.0.0.1", options["metrics_port"])
        # Django, the registry and the handlers are loaded for good: keep them out of every
        # garbage collection the message traffic triggers.
        gc.collect()
        gc.freeze()
        try:
            with asyncio.Runner(loop_factory=_loop_factory(options["loop"])) as runner:
                runner.run(self._run(worker, options["reload"]))
        except (
            ConsumerLost,
            JetStreamDisabled,
            NatsUnavailable,
            StreamConfigConflict,
            ImproperlyConfigured,
        ) as exc:
            raise CommandError(str(exc)) from exc
        finally:
            if stop_metrics is not None:
                stop_metrics()
        exit_code = self.reloading.exit_code if self.reloading else 0
        stuck = worker.sync_jobs.running + (task_threads() if task_actors else 0)
        if stuck:
            # Threads cannot be interrupted and Python would wait for them at exit: the jobs
            # were handed back already, so leave now rather than hang until a SIGKILL.
            logger.warning("Exiting with %d sync job thread(s) still running", stuck)
            logging.shutdown()
            os._exit(exit_code)
        if exit_code:
            sys.exit(exit_code)

    async def _run(self, worker: Worker, reload: bool) -> None:
        loop = asyncio.get_running_loop()
        signals_seen = 0

        def on_signal(signum: int) -> None:
            nonlocal signals_seen
            signals_seen += 1
            if signals_seen == 1:
                if self.reloading is not None:
                    self.reloading.cancel()
                logger.info(
                    "Received %s, shutting down gracefully (press Ctrl+C again to force)",
                    signal.Signals(signum).name,
                )
                worker.stop()
            else:
                logger.warning("Received %s again, exiting now", signal.Signals(signum).name)
                sys.stderr.flush()
                os._exit(1)

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, on_signal, signum)
        if reload:
            self.reloading = ReloadingWorker(worker, loop)
            self.reloading.start()
        try:
            await worker.run()
        finally:
            if self.reloading is not None:
                self.reloading.close()
