"""Generated documents checked by the official AsyncAPI parser (npm @asyncapi/parser, run by node).

The example project's document comes from its own `manage.py asyncapi`, in JSON and in YAML.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.asyncapi.kinds import registry_of_kinds
from tests.asyncapi.parser import parse, problems
from walnats_django.asyncapi import Info, build_document, render

ROOT = Path(__file__).resolve().parent.parent


def example_project(*args: str) -> subprocess.CompletedProcess[str]:
    """`manage.py asyncapi ...` of the example project (its settings, its registry)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    return subprocess.run(
        [sys.executable, "manage.py", "asyncapi", *args],
        cwd=ROOT,
        env={**environ, "DJANGO_SETTINGS_MODULE": "project.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def broken(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with mistakes the parser must find: a dangling reply channel and a bad schema."""
    wrong = copy.deepcopy(document)
    del wrong["channels"]["walnats-reply.kinds.ship"]
    wrong["components"]["schemas"]["Shipment"]["properties"]["pet"]["discriminator"] = {
        "propertyName": "kind"
    }
    return wrong


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every document of this module, written to files and parsed in one node run."""
    folder = tmp_path_factory.mktemp("asyncapi")
    for name, output_format in (("example.json", "json"), ("example.yaml", "yaml")):
        result = example_project("--format", output_format, "-o", str(folder / name))
        assert result.returncode == 0, result.stderr
    kinds = build_document(Info("kinds", "1.0.0"), events=registry_of_kinds(), task_queues=False)
    documents = {
        "tests.json": build_document(Info("tests", "1.0.0")),  # the tests' registry and task queues
        "kinds.yaml": kinds,
        "broken.json": broken(kinds),
    }
    for name, document in documents.items():
        (folder / name).write_text(render(document, name.rpartition(".")[2]))
    files = sorted(folder.iterdir())
    return {Path(path).name: report for path, report in parse(*files).items()}


def test_the_example_projects_document_is_valid(reports: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    for name in ("example.json", "example.yaml"):
        assert reports[name]["parsed"], reports[name]
        assert reports[name]["version"] == "3.0.0"
        assert problems(reports[name]) == []
    written = example_project("-o", str(tmp_path / "example.json"))
    document = json.loads((tmp_path / "example.json").read_text())
    # The example's events, then its task queue (TASKS is set when django-tasks is installed).
    assert list(document["channels"]) == [
        "count-words",
        "walnats-reply.count-words",
        "user-signed-up",
        "tasks.default",
    ]
    assert document["info"]["title"] == "project events"
    assert written.stderr.strip() == f"Wrote {tmp_path / 'example.json'}: 4 channels, 6 operations."


def test_the_documents_of_every_payload_kind_and_the_task_queues_are_valid(
    reports: dict[str, dict[str, Any]],
) -> None:
    for name in ("tests.json", "kinds.yaml"):
        assert reports[name]["parsed"], reports[name]
        assert problems(reports[name]) == []


def test_the_parser_finds_mistakes(reports: dict[str, dict[str, Any]]) -> None:
    report = reports["broken.json"]
    assert not report["parsed"]
    errors = [d for d in report["diagnostics"] if d["severity"] == "error"]
    paths = {d["path"] for d in errors}
    assert "components/schemas/Shipment/properties/pet/discriminator" in paths
    assert any("walnats-reply.kinds.ship" in d["message"] or "reply" in d["path"] for d in errors), errors
