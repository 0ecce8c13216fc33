"""The WALNATS settings object: defaults, NATS_URL and lazy reading."""

from __future__ import annotations

import pytest
from django.test import override_settings

from walnats_django.conf import DEFAULT_SERVER, DEFAULTS, RESERVED_CONNECT_OPTIONS, Settings, walnats_settings


@pytest.fixture(autouse=True)
def _no_nats_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NATS_URL", raising=False)


def test_defaults() -> None:
    with override_settings(WALNATS={}):
        settings = Settings()
        assert settings.SERVERS == ["nats://127.0.0.1:4222"]
        assert settings.CONNECT_OPTIONS == {}
        assert settings.REQUEST_TIMEOUT == 4.0
        assert settings.CONNECT_TIMEOUT == 2.0
        assert settings.INBOX_PREFIX == "_INBOX"
        assert settings.SHUTDOWN_TIMEOUT == 30.0


def test_defaults_table() -> None:
    assert DEFAULT_SERVER == "nats://127.0.0.1:4222"
    assert DEFAULTS == {
        "SERVERS": None,
        "CONNECT_OPTIONS": {},
        "REQUEST_TIMEOUT": 4.0,
        "CONNECT_TIMEOUT": 2.0,
        "INBOX_PREFIX": "_INBOX",
        "SHUTDOWN_TIMEOUT": 30.0,
        "REPLICAS": 1,
        "METRICS": False,
        "TRACING": None,
    }
    assert {"servers", "inbox_prefix", "error_cb"} <= RESERVED_CONNECT_OPTIONS


def test_defaults_without_a_walnats_setting() -> None:
    with override_settings():
        from django.conf import settings

        del settings.WALNATS
        assert Settings().raw == {}
        assert Settings().REQUEST_TIMEOUT == 4.0
        assert Settings().SERVERS == [DEFAULT_SERVER]


def test_walnats_not_a_dict_falls_back_to_defaults() -> None:
    # The E010 check reports it; reading must not crash meanwhile.
    with override_settings(WALNATS=["nope"]):
        assert Settings().raw == {}
        assert Settings().SHUTDOWN_TIMEOUT == 30.0


def test_servers_from_walnats_list() -> None:
    with override_settings(WALNATS={"SERVERS": ("nats://a:4222", "nats://b:4222")}):
        assert Settings().SERVERS == ["nats://a:4222", "nats://b:4222"]


def test_servers_from_walnats_comma_separated_string() -> None:
    with override_settings(WALNATS={"SERVERS": " nats://a:4222 ,nats://b:4222,, "}):
        assert Settings().SERVERS == ["nats://a:4222", "nats://b:4222"]


def test_servers_from_nats_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", "nats://env-host:4333")
    with override_settings(WALNATS={}):
        assert Settings().SERVERS == ["nats://env-host:4333"]


def test_servers_from_comma_separated_nats_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", "nats://n1:4222, nats://n2:4222,nats://n3:4222")
    with override_settings(WALNATS={}):
        assert Settings().SERVERS == ["nats://n1:4222", "nats://n2:4222", "nats://n3:4222"]


def test_walnats_servers_win_over_nats_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", "nats://env-host:4333")
    with override_settings(WALNATS={"SERVERS": "nats://setting:4222"}):
        assert Settings().SERVERS == ["nats://setting:4222"]


def test_nats_url_is_read_at_access_time(monkeypatch: pytest.MonkeyPatch) -> None:
    with override_settings(WALNATS={}):
        assert walnats_settings.SERVERS == [DEFAULT_SERVER]
        monkeypatch.setenv("NATS_URL", "nats://later:4222")
        assert walnats_settings.SERVERS == ["nats://later:4222"]


def test_values_are_read_lazily_so_override_settings_works() -> None:
    with override_settings(WALNATS={"REQUEST_TIMEOUT": 9, "INBOX_PREFIX": "_WEB"}):
        assert walnats_settings.REQUEST_TIMEOUT == 9.0
        assert isinstance(walnats_settings.REQUEST_TIMEOUT, float)
        assert walnats_settings.INBOX_PREFIX == "_WEB"
    with override_settings(WALNATS={"REQUEST_TIMEOUT": 1.5}):
        assert walnats_settings.REQUEST_TIMEOUT == 1.5
        assert walnats_settings.INBOX_PREFIX == "_INBOX"


def test_each_setting_is_read() -> None:
    walnats = {"CONNECT_TIMEOUT": 7, "SHUTDOWN_TIMEOUT": 8, "CONNECT_OPTIONS": {"name": "w"}}
    with override_settings(WALNATS=walnats):
        assert walnats_settings.CONNECT_TIMEOUT == 7.0
        assert walnats_settings.SHUTDOWN_TIMEOUT == 8.0
        assert walnats_settings.CONNECT_OPTIONS == {"name": "w"}


def test_connect_options_are_a_copy() -> None:
    options = {"name": "web"}
    with override_settings(WALNATS={"CONNECT_OPTIONS": options}):
        walnats_settings.CONNECT_OPTIONS["name"] = "changed"
        assert walnats_settings.CONNECT_OPTIONS == {"name": "web"}
    assert options == {"name": "web"}
