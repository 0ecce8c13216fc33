"""The pytest plugin of walnats-django (entry point `walnats_django`; off with `-p no:walnats_django`).

Fixtures: `nats_server` (session: a real `nats-server -js`, or `--walnats-nats-url`),
`walnats_workers` (starts workers), `walnats_worker` (one running, chosen with
`@pytest.mark.walnats(...)`) and `walnats_bus` (in-process by default, live with `--walnats-live`).
Importing it touches neither Django settings nor NATS: the fixtures import what they use.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .bus import InlineBus
    from .live_nats import ExternalNats
    from .live_worker import LiveWorker
    from .live_workers import LiveWorkers
    from .server import NatsServer

MARKER = (
    "walnats(actors=None, subprocess=False, live=None): the walnats_worker fixture runs these actors "
    "(names, tasks-<queue> for a task queue; default all registered and the task queues), as a "
    "runactors subprocess if subprocess=True; live=True runs "
    "this test's walnats_bus against NATS and a worker, live=False keeps it in process."
)
INSTALL_HINT = 'pip install "walnats-django[server]"'
_WORKERS = pytest.StashKey["LiveWorkers"]()
_LOGS_SHOWN = pytest.StashKey[set[str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("walnats", "walnats-django")
    group.addoption(
        "--walnats-live",
        action="store_true",
        default=False,
        help="Run tests using the walnats_bus fixture against a real NATS server and worker "
        "(the nats_server and walnats_worker fixtures) instead of in process.",
    )
    group.addoption(
        "--walnats-nats-url",
        default=None,
        metavar="URL",
        help="Use the NATS server at URL (JetStream enabled; comma-separated for a cluster) in the "
        "nats_server fixture instead of starting one. Its registered events' streams are purged "
        "around each test that starts workers: do not point it at a server you care about.",
    )
    parser.addini("walnats_nats_url", "The NATS server the nats_server fixture uses (--walnats-nats-url).")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)
    url = _nats_url(config)
    if url:
        from ..servers import server_url_problem

        for part in url.split(","):
            problem = server_url_problem(part)
            if problem is not None:
                raise pytest.UsageError(f"--walnats-nats-url: {problem} For example nats://127.0.0.1:4222.")


def _nats_url(config: pytest.Config) -> str | None:
    url = str(config.getoption("walnats_nats_url") or config.getini("walnats_nats_url") or "").strip()
    return url or None


@dataclasses.dataclass(frozen=True)
class MarkerOptions:
    """What `@pytest.mark.walnats(...)` asks for, the closest marker winning key by key."""

    actors: list[str] | None = None
    subprocess: bool = False
    live: bool | None = None

    @classmethod
    def of(cls, node: pytest.Item) -> MarkerOptions:
        known = {field.name for field in dataclasses.fields(cls)}
        found: dict[str, Any] = {}
        for marker in node.iter_markers("walnats"):
            unknown = set(marker.kwargs) - known
            if marker.args or unknown:
                pytest.fail(
                    f"@pytest.mark.walnats takes only the keywords {', '.join(sorted(known))}; "
                    f"got {', '.join(map(repr, marker.args)) or ', '.join(sorted(unknown))}.",
                    pytrace=False,
                )
            for key, value in marker.kwargs.items():
                found.setdefault(key, value)
        actors = found.get("actors")
        if isinstance(actors, str):
            actors = [actors]
        return cls(
            actors=None if actors is None else list(actors),
            subprocess=bool(found.get("subprocess", False)),
            live=found.get("live"),
        )


@pytest.fixture(scope="session")
def nats_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[NatsServer | ExternalNats]:
    """A real `nats-server -js` on a free loopback port for the session; walnats uses it (NATS_URL
    in the environment, and WALNATS["SERVERS"] if the project sets it), whatever NATS_URL said.
    With `--walnats-nats-url` (ini `walnats_nats_url`), that server instead."""
    from ..sync import background_loop
    from .live_nats import ExternalNats, use_nats_url
    from .server import NatsServer

    url = _nats_url(request.config)
    if url:
        with use_nats_url(url):
            yield ExternalNats(url)
        return
    server = NatsServer(store_dir=tmp_path_factory.mktemp("nats-store"))
    try:
        server.start()
    except FileNotFoundError as exc:
        missing: FileNotFoundError | None = exc
    else:
        missing = None
    if missing is not None:  # failed outside the except block: the report shows only this message
        pytest.fail(_no_server_message(missing), pytrace=False)
    try:
        with use_nats_url(server.url):
            yield server
            background_loop.stop()  # its connection would see the server go and warn
    finally:
        server.cleanup()


def _no_server_message(missing: FileNotFoundError) -> str:
    install = "" if INSTALL_HINT in str(missing) else f" Install one: {INSTALL_HINT}."
    return (
        f"The nats_server fixture cannot start a NATS server: {missing}{install} "
        "Or test against a server of your own: --walnats-nats-url nats://host:4222."
    )


@pytest.fixture
def walnats_workers(
    nats_server: NatsServer | ExternalNats,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveWorkers]:
    """Starts workers for this test: `walnats_workers.start(["actor-name"], subprocess=False)`
    returns once their pulls are open. Registered events' streams are purged before the test and
    after its workers stopped, so no message leaks from one test into another."""
    from .live_workers import LiveWorkers

    def make_settings_dir() -> Path:
        return tmp_path_factory.mktemp("walnats-worker")

    workers = LiveWorkers(settings_dir=make_settings_dir, before_subprocess=lambda: _test_databases(request))
    workers.purge()
    request.node.stash[_WORKERS] = workers
    yield workers
    try:
        workers.stop_all()
    finally:
        workers.purge()


def _test_databases(request: pytest.FixtureRequest) -> None:
    """Create the test databases (pytest-django) so a subprocess gets their names, not the real ones."""
    from django.conf import settings

    if request.config.pluginmanager.hasplugin("django") and settings.configured:
        request.getfixturevalue("django_db_setup")


@pytest.fixture
def walnats_worker(walnats_workers: LiveWorkers, request: pytest.FixtureRequest) -> LiveWorker:
    """The actors of `@pytest.mark.walnats(actors=[...])` (default: all registered, and the task
    queues of TASKS) running, in this process or (`subprocess=True`) as `runactors`; their pulls are
    open when the test starts."""
    options = MarkerOptions.of(request.node)
    return walnats_workers.start(options.actors, subprocess=options.subprocess)


@pytest.fixture
def walnats_bus(request: pytest.FixtureRequest) -> Iterator[InlineBus]:
    """Records what the test emits and requests; handlers run in process, no NATS needed.

    With `--walnats-live` or `@pytest.mark.walnats(live=True)`, the same calls go to a real NATS
    server and are handled by a `walnats_worker` (still recorded), so one test body checks both.
    """
    from .inline import inline

    live = MarkerOptions.of(request.node).live
    if live is None:
        live = bool(request.config.getoption("walnats_live"))
    if live:
        request.getfixturevalue("walnats_worker")
        with inline(live=True) as bus:
            yield bus
    else:
        with inline() as bus:
            yield bus


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """A failed test's report shows the output of its `runactors` workers."""
    report = yield
    workers = item.stash.get(_WORKERS, None)
    if workers is not None and report.failed:
        shown = item.stash.setdefault(_LOGS_SHOWN, set())
        for worker in workers.started:
            log = worker.log()
            if log and worker.name not in shown:
                shown.add(worker.name)
                report.sections.append((f"walnats worker log: {worker.name}", log))
    return report
