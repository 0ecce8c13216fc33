"""Turning metrics (and tracing) on and off: WALNATS['METRICS'] and ['TRACING'], their checks
(E019, E020), `runactors --metrics-port` errors, and a process without either extra."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError
from django.test import override_settings

from tests.helpers import ROOT
from walnats_django import observe
from walnats_django.checks import check_settings
from walnats_django.metrics import MetricsObserver
from walnats_django.observe import ExtraNotInstalled, Fanout, current
from walnats_django.observe import setup as observe_setup
from walnats_django.tracing import TracingObserver


@pytest.fixture(autouse=True)
def _keep_observer() -> Iterator[None]:
    """Whatever a test installs, the next test starts with the observer the settings chose."""
    previous = current.observer
    yield
    observe.use(previous)


def kinds() -> list[type]:
    observer = current.observer
    if observer is None:
        return []
    parts = observer.observers if isinstance(observer, Fanout) else (observer,)
    return [type(part) for part in parts]


def test_the_settings_choose_the_observers() -> None:
    with override_settings(WALNATS={"METRICS": True, "TRACING": False}):
        assert kinds() == [MetricsObserver]
    with override_settings(WALNATS={"METRICS": True}):
        assert kinds() == [TracingObserver, MetricsObserver], "TRACING None: on, as opentelemetry is here"
    with override_settings(WALNATS={"TRACING": False}):
        assert current.observer is None, "nothing to observe: publishers and workers skip every point"
    with override_settings(WALNATS={}):
        assert kinds() == [TracingObserver]


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_e019_metrics_must_be_a_bool(value: object) -> None:
    with override_settings(WALNATS={"METRICS": value}):
        (error,) = [e for e in check_settings() if e.id == "walnats_django.E019"]
    assert error.msg == f"WALNATS['METRICS'] must be True or False, got {value!r}."


@pytest.mark.parametrize("value", ["auto", 0])
def test_e020_tracing_must_be_none_or_a_bool(value: object) -> None:
    with override_settings(WALNATS={"TRACING": value}):
        (error,) = [e for e in check_settings() if e.id == "walnats_django.E020"]
    assert error.msg == f"WALNATS['TRACING'] must be None, True or False, got {value!r}."


def test_good_values_pass_the_checks() -> None:
    ours = ("walnats_django.E019", "walnats_django.E020")
    good = ({"METRICS": True, "TRACING": True}, {"METRICS": False, "TRACING": None}, {"TRACING": False})
    for value in good:
        with override_settings(WALNATS=value):
            assert not [error for error in check_settings() if error.id in ours]


def test_metrics_addr_needs_metrics_port() -> None:
    with pytest.raises(CommandError, match="--metrics-addr needs --metrics-port"):
        call_command("runactors", "--actor", "echo", "--metrics-addr", "0.0.0.0")


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_metrics_port_must_be_a_port_number(port: str) -> None:
    with pytest.raises(CommandError, match="is not a port number"):
        call_command("runactors", "--actor", "echo", "--metrics-port", port)


def test_a_busy_metrics_port_is_a_command_error_and_records_nothing() -> None:
    before = current.observer
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(CommandError) as info:
            call_command("runactors", "--actor", "echo", "--metrics-port", str(port))
    assert str(info.value) == (
        f"--metrics-port: cannot serve metrics on 127.0.0.1:{port}: Address already in use. Pick a free "
        "--metrics-port (each runactors process needs its own) or another --metrics-addr."
    )
    assert current.observer is before


def test_configure_with_metrics_needs_prometheus_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(observe_setup, "installed", lambda module: module != "prometheus_client")
    with pytest.raises(ExtraNotInstalled, match=r"pip install 'walnats-django\[metrics\]'"):
        observe.configure(metrics=True)


WITHOUT_EXTRAS = textwrap.dedent(
    """
    import sys
    sys.modules["opentelemetry"] = None  # as if neither extra were installed
    sys.modules["prometheus_client"] = None
    import django
    django.setup()
    from django.core.management import call_command
    from django.core.management.base import CommandError
    from django.test import override_settings
    from walnats_django.checks import check_settings
    from walnats_django.observe import current

    print("observer:", current.observer)
    with override_settings(WALNATS={"METRICS": True, "TRACING": True}):
        print("observer:", current.observer)
        for error in check_settings():
            print(error.id, error.msg)
    try:
        import walnats_django.metrics
    except ImportError as exc:
        print(type(exc).__name__, exc)
    try:
        call_command("runactors", "--actor", "echo", "--metrics-port", "0")
    except CommandError as exc:
        print("CommandError", exc)
    """
)


def test_without_the_extras_nothing_is_observed_and_asking_for_them_says_what_to_install() -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRAS],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == ["observer: None", "observer: None"]
    assert lines[2:] == [
        "walnats_django.E019 WALNATS['METRICS'] is True but prometheus-client is not installed: "
        "pip install 'walnats-django[metrics]'.",
        "walnats_django.E020 WALNATS['TRACING'] is True but opentelemetry-api is not installed: "
        "pip install 'walnats-django[otel]'.",
        "ExtraNotInstalled Metrics need prometheus-client, which is not installed: "
        "pip install 'walnats-django[metrics]'.",
        "CommandError --metrics-port: Metrics need prometheus-client, which is not installed: "
        "pip install 'walnats-django[metrics]'.",
    ]


def test_manage_py_check_reports_e019_and_e020() -> None:
    with (
        override_settings(WALNATS={"METRICS": "yes", "TRACING": "auto"}),
        pytest.raises(SystemCheckError) as info,
    ):
        call_command("check")
    assert "(walnats_django.E019) WALNATS['METRICS'] must be True or False, got 'yes'." in str(info.value)
    assert "(walnats_django.E020) WALNATS['TRACING'] must be None, True or False" in str(info.value)
