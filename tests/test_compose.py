"""compose.yaml and the Dockerfile agree with the project (no Docker engine needed)."""

from __future__ import annotations

import importlib
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import environ
import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands, load_command_class

from tests.helpers import ROOT

COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
DJANGO_SERVICES = ["migrate", "web", "actors"]

_VARIABLE = re.compile(r"\$\{(\w+)(?::?[-?]([^}]*))?\}")


def interpolate(value: str) -> str:
    """Compose's `${NAME:-default}`, as with NAME unset."""
    return _VARIABLE.sub(lambda m: m.group(2) or "", value)


def environment(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: interpolate(str(value)) for key, value in env.items()}


def command(service: str) -> list[str]:
    cmd = SERVICES[service]["command"]
    return shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]


def option(args: list[str], *names: str) -> str | None:
    """The value after the first of `names` in `args` (`--name value` or `--name=value`)."""
    for i, arg in enumerate(args):
        if arg in names:
            return args[i + 1]
        name, _, value = arg.partition("=")
        if value and name in names:
            return value
    return None


def seconds(duration: str) -> float:
    """A compose duration such as `40s` or `1m30s`."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts, f"not a duration: {duration!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


def named_volume_mounts(service: str) -> dict[str, str]:
    """Container path -> named volume for the service's named-volume mounts."""
    mounts = {}
    for volume in SERVICES[service].get("volumes", []):
        if isinstance(volume, str):
            source, _, target = volume.partition(":")
            target = target.split(":")[0]
        else:
            source, target = volume.get("source", ""), volume["target"]
        if source in (COMPOSE.get("volumes") or {}):
            mounts[target] = source
    return mounts


def depends_on(service: str) -> dict[str, str | None]:
    deps = SERVICES[service].get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps)
    return {name: (spec or {}).get("condition") for name, spec in deps.items()}


def management_command_args(service: str) -> tuple[str, list[str]]:
    """(name, arguments) of a `python manage.py NAME ...` command; the name must be real."""
    cmd = command(service)
    assert cmd[:2] == ["python", "manage.py"], cmd
    name, args = cmd[2], cmd[3:]
    assert name in get_commands(), f"{name!r} is not a management command"
    return name, args


def parse_management_args(name: str, args: list[str]) -> dict[str, Any]:
    """Parse `args` with the real command's parser (unknown flags fail the test)."""
    parser = load_command_class(get_commands()[name], name).create_parser("manage.py", name)
    return vars(parser.parse_args(args))


def test_the_services_exist_and_django_ones_build_the_dockerfile() -> None:
    assert {"nats", *DJANGO_SERVICES} <= set(SERVICES)
    for service in DJANGO_SERVICES:
        build = SERVICES[service]["build"]
        context = build if isinstance(build, str) else build.get("context", ".")
        assert (ROOT / context / "Dockerfile").is_file(), service


def test_web_serves_the_project_asgi_application() -> None:
    from uvicorn.main import main as uvicorn_cli

    cmd = command("web")
    assert cmd[0] == "uvicorn", cmd
    params = uvicorn_cli.make_context("uvicorn", cmd[1:]).params  # uvicorn's own CLI parser
    module, _, attribute = params["app"].partition(":")
    app = getattr(importlib.import_module(module), attribute)
    assert callable(app)
    assert params["app"] == settings.ASGI_APPLICATION.replace(".application", ":application")
    assert params["host"] == "0.0.0.0"
    assert params["lifespan"] == "on", "the lifespan wrapper closes the NATS connection"
    published = [str(p).rsplit(":", 1)[-1] for p in SERVICES["web"].get("ports", [])]
    assert str(params["port"]) in published
    graceful = params["timeout_graceful_shutdown"]
    assert graceful is not None
    assert graceful < seconds(SERVICES["web"]["stop_grace_period"])


def test_actors_run_the_runactors_command_and_get_time_to_finish_jobs() -> None:
    name, args = management_command_args("actors")
    assert name == "runactors"
    options = parse_management_args(name, args)
    shutdown_timeout = options["shutdown_timeout"] or 30.0
    assert shutdown_timeout < seconds(SERVICES["actors"]["stop_grace_period"])


def test_actors_can_be_scaled() -> None:
    actors = SERVICES["actors"]
    assert "container_name" not in actors
    assert "ports" not in actors
    assert "deploy" not in actors or "replicas" not in actors["deploy"]


def test_migrate_runs_once_before_web_and_actors() -> None:
    name, args = management_command_args("migrate")
    assert name == "migrate"
    assert parse_management_args(name, args)["interactive"] is False
    assert "restart" not in SERVICES["migrate"] or SERVICES["migrate"]["restart"] == "no"
    for service in ("web", "actors"):
        assert depends_on(service).get("migrate") == "service_completed_successfully", service


def test_nats_url_points_at_the_nats_service() -> None:
    nats_args = command("nats")
    port = int(option(nats_args, "-p", "--port") or 4222)
    for service in ("web", "actors"):
        url = urlsplit(environment(service)["NATS_URL"])
        assert url.scheme == "nats"
        assert url.hostname == "nats"
        assert url.port == port
        assert "nats" in depends_on(service), service
        if depends_on(service)["nats"] == "service_healthy":
            assert "healthcheck" in SERVICES["nats"]


def test_nats_enables_jetstream_with_its_store_on_a_named_volume() -> None:
    nats = SERVICES["nats"]
    assert nats["image"].split(":")[0] in ("nats", "library/nats", "docker.io/library/nats")
    args = command("nats")
    assert "-js" in args or "--jetstream" in args
    store = option(args, "-sd", "--store_dir")
    assert store is not None
    assert store in named_volume_mounts("nats")


def test_nats_healthcheck_probes_the_monitoring_port() -> None:
    monitor = option(command("nats"), "-m", "--http_port")
    assert monitor is not None
    probe = " ".join(SERVICES["nats"]["healthcheck"]["test"])
    assert f":{monitor}/healthz" in probe


@pytest.mark.parametrize("service", ["web", "actors"])
def test_django_settings_come_from_the_environment(service: str) -> None:
    project_settings = (ROOT / "project" / "settings.py").read_text()
    env = environment(service)
    for name in ("DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "DATABASE_URL"):
        assert f'"{name}"' in project_settings, f"project.settings does not read {name}"
        assert env.get(name), f"{service} lacks {name}"
    assert "localhost" in env["DJANGO_ALLOWED_HOSTS"].split(",")


def test_the_database_is_shared_on_a_volume() -> None:
    urls = {service: environment(service)["DATABASE_URL"] for service in DJANGO_SERVICES}
    assert len(set(urls.values())) == 1, urls
    database = environ.Env.db_url_config(urls["web"])  # as project.settings reads it
    if database["ENGINE"].endswith("sqlite3"):
        directory = str(Path(database["NAME"]).parent)
        volumes = {named_volume_mounts(service).get(directory) for service in DJANGO_SERVICES}
        assert len(volumes) == 1, "one named volume holds the SQLite file for all services"
        assert None not in volumes
        workdir = re.findall(r"^WORKDIR\s+(\S+)", DOCKERFILE, re.MULTILINE)[-1]
        assert directory.startswith(workdir), "the database lives in the app's var/ directory"


def test_dockerfile_installs_the_package_before_the_rest_of_the_code() -> None:
    lines = [line.strip() for line in DOCKERFILE.splitlines()]
    assert next(ln for ln in lines if ln.startswith("FROM ")) == "FROM python:3.11-slim"
    install = next(i for i, ln in enumerate(lines) if ln.startswith("RUN pip install"))
    match = re.fullmatch(r"RUN pip install (?:-e )?'?\.\[([\w,-]+)\]'?", lines[install])
    assert match, f"the image installs the package with extras: {lines[install]}"
    assert "COPY . ." in lines[install:], "dependencies are installed before the code is copied"
    # What the build reads must be there before it: pyproject.toml, its readme, the package.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    copied = {src.rstrip("/") for ln in lines[:install] if ln.startswith("COPY ") for src in ln.split()[1:-1]}
    assert {"pyproject.toml", project["readme"], "walnats_django"} <= copied
    # The image runs the example project: uvicorn serves it, WhiteNoise its static files.
    optional = project["optional-dependencies"]
    requirements = [
        *project["dependencies"],
        *(req for extra in match[1].split(",") for req in optional[extra]),
    ]
    for package in ("django", "nats-py", "uvicorn", "whitenoise"):
        assert any(re.match(rf"{package}\b", req) for req in requirements), package
