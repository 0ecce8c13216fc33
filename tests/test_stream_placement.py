"""Stream placement (replicas, storage) and updates that never weaken a stream behind the code's back."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import AsyncIterator

import nats
import pytest
from django.test import override_settings
from nats.js import JetStreamContext
from pytest_django.fixtures import Settings as SettingsWrapper

from walnats_django import Event, Limits, StreamConfigConflict
from walnats_django.checks import check_settings
from walnats_django.jetstream import ensure_stream, stream_config
from walnats_django.testing import NatsServer


@pytest.mark.parametrize("replicas", [0, 6, -1, 2.0, "3", True, math.inf])
def test_replicas_must_be_1_to_5(replicas: object) -> None:
    with pytest.raises(ValueError, match=r"^replicas of event 'e' must be"):
        Event("e", str, replicas=replicas)  # type: ignore[arg-type]


def test_storage_is_file_or_memory() -> None:
    with pytest.raises(ValueError, match=r"storage of event 'e' must be 'file' or 'memory', got 'disk'"):
        Event("e", str, storage="disk")  # type: ignore[arg-type]
    assert Event("e", str, storage="memory", replicas=3).storage == "memory"


@pytest.mark.parametrize("value", [0, 6, "3", True, 1.5])
def test_e018_replicas_setting(value: object) -> None:
    assert [e for e in check_settings(None) if e.id == "walnats_django.E018"] == [], "the default is fine"
    with override_settings(WALNATS={"REPLICAS": value}):
        errors = [e for e in check_settings(None) if e.id == "walnats_django.E018"]
    assert len(errors) == 1
    assert "WALNATS['REPLICAS']" in errors[0].msg


def test_new_streams_take_the_event_or_project_placement(settings: SettingsWrapper) -> None:
    assert stream_config(Event("e", str)).num_replicas == 1
    assert stream_config(Event("e", str)).storage == "file"
    settings.WALNATS = {"REPLICAS": 3}
    assert stream_config(Event("e", str)).num_replicas == 3
    assert stream_config(Event("e", str, replicas=5, storage="memory")).num_replicas == 5
    assert stream_config(Event("e", str, storage="memory")).storage == "memory"


@pytest.fixture
async def js(nats_server: NatsServer) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_server.url)
    yield nc.jetstream()
    for name in ("placement-kept", "placement-conflict"):
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await nc.jetstream().delete_stream(name)
    await nc.close()


async def _raw_config(js: JetStreamContext, stream: str) -> dict[str, object]:
    info = await js._api_request(f"$JS.API.STREAM.INFO.{stream}", b"", timeout=2)
    config: dict[str, object] = info["config"]
    return config


async def _make_by_hand(js: JetStreamContext, config: dict[str, object]) -> None:
    await js._api_request(f"$JS.API.STREAM.CREATE.{config['name']}", json.dumps(config).encode(), timeout=2)


async def test_an_update_keeps_what_an_operator_set_and_the_code_does_not_name(
    js: JetStreamContext, caplog: pytest.LogCaptureFixture
) -> None:
    await _make_by_hand(
        js,
        {
            "name": "placement-kept",
            "subjects": ["placement.kept"],
            "retention": "interest",
            "discard": "new",
            "storage": "file",
            "num_replicas": 1,
            "max_msgs": 5,
            "max_bytes": 4096,
            "description": "made by ops",
            "duplicate_window": 30_000_000_000,
        },
    )
    await ensure_stream(js, Event("placement.kept", str))
    config = await _raw_config(js, "placement-kept")
    assert (config["max_msgs"], config["max_bytes"]) == (5, 4096), "limits the code does not name are kept"
    assert config["description"] == "made by ops"
    assert config["duplicate_window"] == 30_000_000_000, "fields outside walnats' config are kept"
    assert "Updated stream" not in caplog.text, "nothing the code names differs: no update at all"

    await ensure_stream(js, Event("placement.kept", str, limits=Limits(messages=10)))
    config = await _raw_config(js, "placement-kept")
    assert (config["max_msgs"], config["max_bytes"]) == (10, 4096), "a limit the code names is applied"
    assert "Updated stream stream=placement-kept max_msgs=5->10" in caplog.text


async def test_a_storage_change_is_a_clear_error(js: JetStreamContext) -> None:
    await ensure_stream(js, Event("placement.conflict", str))
    with pytest.raises(
        StreamConfigConflict, match=r"stream 'placement-conflict' keeps its messages in file"
    ) as e:
        await ensure_stream(js, Event("placement.conflict", str, storage="memory"))
    assert "nats stream rm placement-conflict" in str(e.value)
    config = await _raw_config(js, "placement-conflict")
    assert config["storage"] == "file", "nothing was changed"
