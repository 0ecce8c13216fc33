"""`manage.py asyncapi`: formats, output file, options and the errors it stops with."""

from __future__ import annotations

import dataclasses
import datetime
import io
import json
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from walnats_django import Event, registry


def asyncapi(*args: str) -> tuple[str, str]:
    """Run the command in process; its stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    call_command("asyncapi", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_json_on_stdout_by_default() -> None:
    out, err = asyncapi()
    document = json.loads(out)
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["title"] == "tests events"  # the settings module's package
    assert document["info"]["version"] == "1.0.0"
    assert "test.echo" in document["channels"]
    assert "tasks.default" in document["channels"]
    assert err == ""


def test_yaml_is_the_same_document() -> None:
    out, _ = asyncapi("--format", "yaml")
    assert out.startswith("asyncapi: 3.0.0\n")
    assert "&id" not in out  # no anchors: every part written out
    assert yaml.safe_load(out) == json.loads(asyncapi()[0])


def test_output_file(tmp_path: Path) -> None:
    target = tmp_path / "contract.yaml"
    out, err = asyncapi("--format", "yaml", "-o", str(target))
    assert out == ""
    document = yaml.safe_load(target.read_text(encoding="utf-8"))
    channels, operations = len(document["channels"]), len(document["operations"])
    assert err == f"Wrote {target}: {channels} channels, {operations} operations.\n"
    out, _ = asyncapi("-o", "-")
    assert json.loads(out) == document


def test_title_version_servers_and_no_tasks() -> None:
    out, _ = asyncapi(
        "--title",
        "Shop <events>",
        "--api-version",
        "2.3.4",
        "--server",
        "nats://u:secret@a:1",
        "--server",
        "b",
        "--no-tasks",
    )
    document = json.loads(out)
    assert document["info"]["title"] == "Shop <events>"
    assert document["info"]["version"] == "2.3.4"
    assert document["servers"] == {
        "nats-1": {"host": "a:1", "protocol": "nats"},
        "nats-2": {"host": "b:4222", "protocol": "nats"},
    }
    assert "secret" not in out
    assert not any(name.startswith("tasks.") for name in document["channels"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "xml"], "argument --format: invalid choice: 'xml'"),
        (
            ["-o", "/nonexistent-dir/contract.json"],
            "cannot write /nonexistent-dir/contract.json: No such file or directory.",
        ),
        (["--server", "http://example.com"], "is not a nats://, tls://, ws:// or wss:// URL"),
    ],
)
def test_bad_options(args: list[str], message: str) -> None:
    with pytest.raises(CommandError) as caught:
        asyncapi(*args)
    assert message in str(caught.value)


def test_yaml_without_pyyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml raises ImportError
    with pytest.raises(
        CommandError, match=r"YAML output needs PyYAML: pip install 'walnats-django\[asyncapi\]'"
    ):
        asyncapi("--format", "yaml")
    assert json.loads(asyncapi()[0])["asyncapi"] == "3.0.0"


@dataclasses.dataclass(frozen=True)
class Visit:
    """A payload the default serializer cannot send: json cannot encode a datetime field."""

    at: datetime.datetime


def test_an_unsupported_type_stops_the_command_instead_of_writing_a_document(tmp_path: Path) -> None:
    target = tmp_path / "contract.json"
    with registry.isolated():
        registry.add(Event("test.visit", Visit))
        with pytest.raises(CommandError) as caught:
            asyncapi("-o", str(target))
    assert str(caught.value).startswith(
        "payload of event 'test.visit', field 'at': datetime cannot be encoded by json inside a payload; "
        "send an ISO 8601 str"
    )
    assert not target.exists()


def test_registry_problems_stop_the_command() -> None:
    with registry.isolated():
        registry.add(Event("test.twice", str))
        registry.add(Event("test.twice", int))
        with pytest.raises(CommandError, match=r"walnats_django\.E001"):
            asyncapi("--skip-checks")
