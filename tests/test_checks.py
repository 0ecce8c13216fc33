"""System checks: each ID directly, and once through `manage.py check`."""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.checks import Error
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings
from pytest_django.fixtures import Settings as SettingsWrapper

from walnats_django import Actor, Event, registry
from walnats_django.checks import check_registry, check_settings
from walnats_django.client.connect import server_urls


def handler(text: str) -> None:
    return None


def other_handler(text: str) -> None:
    return None


@pytest.fixture
def empty_registry() -> Iterator[None]:
    with registry.isolated():
        yield


@pytest.fixture(autouse=True)
def _no_nats_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NATS_URL", raising=False)


def ids(errors: list[Any]) -> list[str]:
    return [e.id for e in errors]


def settings_errors(walnats: object) -> list[Any]:
    with override_settings(WALNATS=walnats):
        return check_settings(None)


# --- registry: E001-E006 -------------------------------------------------------------------------


def test_project_registry_passes() -> None:
    assert check_registry(None) == []


@pytest.mark.usefixtures("empty_registry")
def test_empty_registry_passes() -> None:
    assert check_registry(None) == []


@pytest.mark.usefixtures("empty_registry")
def test_e001_duplicate_event() -> None:
    registry.add(Event("note", str))
    second = registry.add(Event("note", int))
    (error,) = check_registry(None)
    assert isinstance(error, Error)
    assert error.id == "walnats_django.E001"
    assert error.obj is second
    assert "registered twice" in error.msg
    assert "events.py" in (error.hint or "")


@pytest.mark.usefixtures("empty_registry")
def test_e002_duplicate_actor() -> None:
    event = registry.add(Event("note", str))
    registry.add(Actor("write", event, handler))
    registry.add(Actor("write", event, other_handler))
    assert ids(check_registry(None)) == ["walnats_django.E002"]


@pytest.mark.usefixtures("empty_registry")
def test_e003_unregistered_event() -> None:
    registry.add(Actor("write", Event("note", str), handler))
    (error,) = check_registry(None)
    assert error.id == "walnats_django.E003"
    assert "registry.add(Event(...))" in (error.hint or "")


@pytest.mark.usefixtures("empty_registry")
def test_e004_bad_names() -> None:
    event = registry.add(Event("bad name", str))
    good = registry.add(Event("note", str))
    registry.add(Actor("bad.actor", good, handler))
    errors = check_registry(None)
    assert ids(errors) == ["walnats_django.E004", "walnats_django.E004"]
    assert errors[0].obj is event
    assert "'bad name'" in errors[0].msg
    assert "'bad.actor'" in errors[1].msg


@pytest.mark.usefixtures("empty_registry")
def test_e005_shared_stream() -> None:
    registry.add(Event("a.b", str))
    registry.add(Event("a-b", str))
    (error,) = check_registry(None)
    assert error.id == "walnats_django.E005"
    assert "'a-b'" in error.msg


@pytest.mark.usefixtures("empty_registry")
def test_e006_other_definition_of_the_event() -> None:
    registry.add(Event("count", str).with_response(int))
    registry.add(Actor("count", Event("count", str), handler))
    (error,) = check_registry(None)
    assert error.id == "walnats_django.E006"


# --- settings: E010-E016 -------------------------------------------------------------------------


def test_default_settings_pass() -> None:
    assert settings_errors({}) == []
    assert check_settings(None) == []  # the test settings themselves


def test_a_full_valid_configuration_passes() -> None:
    assert (
        settings_errors(
            {
                "SERVERS": ["nats://user:pw@nats-1:4222", "tls://nats-2:4222", "ws://n3:80", "wss://n4"],
                "CONNECT_OPTIONS": {"name": "web", "ping_interval": 10},
                "REQUEST_TIMEOUT": 1,
                "CONNECT_TIMEOUT": 0.5,
                "SHUTDOWN_TIMEOUT": 60.0,
                "INBOX_PREFIX": "_INBOX.web",
            }
        )
        == []
    )


@pytest.mark.parametrize("walnats", [[], "nats://x", None, ("SERVERS",)])
def test_e010_walnats_not_a_dict(walnats: object) -> None:
    (error,) = settings_errors(walnats)
    assert error.id == "walnats_django.E010"
    assert "WALNATS must be a dict" in error.msg


def test_e011_unknown_keys() -> None:
    (error,) = settings_errors({"SERVER": "nats://x:4222", "TIMEOUT": 3})
    assert error.id == "walnats_django.E011"
    assert "SERVER, TIMEOUT" in error.msg
    assert "SERVERS" in (error.hint or "")


def test_e011_non_str_keys_do_not_crash() -> None:
    assert ids(settings_errors({1: 2, "X": 3})) == ["walnats_django.E011"]


@pytest.mark.parametrize(
    "servers",
    [
        "http://nats:4222",
        "nats://nats-1:port",
        "",
        " , ",
        [],
        ["nats://ok:4222", "redis://cache"],
        ["nats://"],
        [4222],
        4222,
        "nats://[::1",  # unparsable: urlsplit raises ValueError
    ],
)
def test_e012_bad_servers(servers: object) -> None:
    errors = settings_errors({"SERVERS": servers})
    assert errors
    assert set(ids(errors)) == {"walnats_django.E012"}


def test_e012_from_nats_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", "nats://a:4222,http://b:4222")
    (error,) = settings_errors({})
    assert error.id == "walnats_django.E012"
    assert "'http://b:4222'" in error.msg


@pytest.mark.parametrize("servers", ["localhost:4222", "nats-1", "nats://a:4222,b:4222", ["tls://x", "c:1"]])
def test_host_port_without_a_scheme_is_accepted_as_nats_py_reads_it(servers: object) -> None:
    assert settings_errors({"SERVERS": servers}) == []


def test_the_runtime_refuses_what_e012_refuses(settings: SettingsWrapper) -> None:
    settings.WALNATS = {"SERVERS": ["http://user:s3cret@nats:4222"]}
    with pytest.raises(ImproperlyConfigured, match=r"not a nats://.*E012") as caught:
        server_urls()
    assert "s3cret" not in str(caught.value)
    settings.WALNATS = {"SERVERS": "localhost:4222, nats://b:1"}
    assert server_urls() == ["nats://localhost:4222", "nats://b:1"]


def test_e012_hides_passwords() -> None:
    errors = settings_errors({"SERVERS": ["http://user:s3cret@host:4222", "nats://user:s3cret@[::1"]})
    assert ids(errors) == ["walnats_django.E012", "walnats_django.E012"]
    for error in errors:
        assert "s3cret" not in error.msg
        assert "***" in error.msg


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"servers": ["nats://x"]}, "set by walnats-django itself"),
        ({"inbox_prefix": "_X"}, "set by walnats-django itself"),
        ({"error_cb": None}, "set by walnats-django itself"),
        ({"reconect_time_wait": 1}, "not an option of nats.connect()"),
        ([("name", "x")], "must be a dict"),
    ],
)
def test_e013_connect_options(options: object, fragment: str) -> None:
    (error,) = settings_errors({"CONNECT_OPTIONS": options})
    assert error.id == "walnats_django.E013"
    assert fragment in error.msg


def test_e013_reports_each_bad_option() -> None:
    errors = settings_errors({"CONNECT_OPTIONS": {"servers": [], "nope": 1, 3: 4, "name": "ok"}})
    assert ids(errors) == ["walnats_django.E013"] * 3


@pytest.mark.parametrize("key", ["REQUEST_TIMEOUT", "CONNECT_TIMEOUT", "SHUTDOWN_TIMEOUT"])
@pytest.mark.parametrize("value", [0, -1, "4", True, None, math.nan, math.inf])
def test_e014_timeouts(key: str, value: object) -> None:
    (error,) = settings_errors({key: value})
    assert error.id == "walnats_django.E014"
    assert key in error.msg


@pytest.mark.parametrize(
    "prefix",
    [
        "",
        "_INBOX.",
        "_INBOX.*",
        "_INBOX.>",
        "my inbox",
        5,
        "a..b",
        "$JS",
        "$SYS.x",
    ],
)
def test_e015_inbox_prefix(prefix: object) -> None:
    (error,) = settings_errors({"INBOX_PREFIX": prefix})
    assert error.id == "walnats_django.E015"


@pytest.mark.parametrize("prefix", ["walnats-dead-letters", "walnats-dead-letters.orders", "orders"])
def test_e016_inbox_prefix_covering_other_subjects(prefix: str) -> None:
    with registry.isolated():
        registry.add(Event("orders.created", str))
        (error,) = settings_errors({"INBOX_PREFIX": prefix})
    assert error.id == "walnats_django.E016"
    assert "forged reply subject" in error.msg


@pytest.mark.parametrize(
    "prefix", ["_INBOX", "_INBOX.orders", "order", "orders-inbox", "orders.created", "walnats"]
)
def test_e016_prefix_of_its_own_passes(prefix: str) -> None:
    with registry.isolated():
        registry.add(Event("orders.created", str))
        assert settings_errors({"INBOX_PREFIX": prefix}) == []


def test_several_settings_errors_at_once() -> None:
    errors = settings_errors({"NOPE": 1, "SERVERS": "http://x", "REQUEST_TIMEOUT": 0, "INBOX_PREFIX": "*"})
    assert ids(errors) == [
        "walnats_django.E011",
        "walnats_django.E012",
        "walnats_django.E014",
        "walnats_django.E015",
    ]


# --- through manage.py check ---------------------------------------------------------------------


def run_check() -> str:
    out = io.StringIO()
    call_command("check", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_manage_check_passes_for_the_project() -> None:
    assert "no issues" in run_check()


@pytest.mark.usefixtures("empty_registry")
def test_manage_check_reports_registry_errors() -> None:
    registry.add(Event("note", str))
    registry.add(Event("note", int))
    with pytest.raises(SystemCheckError, match=r"walnats_django\.E001"):
        run_check()


@pytest.mark.usefixtures("empty_registry")
def test_check_messages_name_the_event_or_actor_in_a_few_words() -> None:
    event = registry.add(Event("note", str))
    registry.add(Event("note", int))
    registry.add(Actor("write", event, handler))
    registry.add(Actor("write", event, other_handler))
    with pytest.raises(SystemCheckError) as caught:
        run_check()
    lines = [line for line in str(caught.value).splitlines() if "walnats_django.E00" in line]
    assert sorted(line.split(": (")[0] for line in lines) == ["actor 'write' of event 'note'", "event 'note'"]
    assert "Event(" not in str(caught.value)


def test_manage_check_reports_settings_errors() -> None:
    with (
        override_settings(WALNATS={"INBOX_PREFIX": "_INBOX.>"}),
        pytest.raises(SystemCheckError, match=r"walnats_django\.E015"),
    ):
        run_check()
