"""TLS (`NATS_TLS_*`) and NKey (`NATS_NKEY_SEED`) credentials from the environment, against real
nats-servers that require them: a `runactors` worker and a requester both connect, and a
client without them fails fast with `NatsUnavailable`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nacl.signing
import nkeys
import pytest
import trustme
from django.test import override_settings

import walnats_django
from tests.helpers import StartWorker, WorkerProcess
from tests.testapp.fault_events import FB_AUTH
from walnats_django import NatsUnavailable
from walnats_django.client import close_connection
from walnats_django.testing import NatsServer


@pytest.fixture(autouse=True)
def _no_credentials_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NATS_TLS_CA", "NATS_TLS_CERT", "NATS_TLS_KEY", "NATS_NKEY_SEED", "NATS_CREDS"):
        monkeypatch.delenv(name, raising=False)


async def _request_with(servers: list[str], text: str) -> str:
    with override_settings(WALNATS={"SERVERS": servers, "CONNECT_TIMEOUT": 2.0}):
        await close_connection()
        try:
            return await walnats_django.request(FB_AUTH, text, timeout=5)
        finally:
            await close_connection()


# ----------------------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway CA and a certificate for 127.0.0.1 signed by it."""
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    cert.private_key_pem.write_to_path(str(folder / "server.key"))
    cert.cert_chain_pems[0].write_to_path(str(folder / "server.pem"))
    return folder


@pytest.fixture(scope="module")
def tls_server(tls_dir: Path) -> Iterator[NatsServer]:
    args = ("--tls", "--tlscert", str(tls_dir / "server.pem"), "--tlskey", str(tls_dir / "server.key"))
    with NatsServer(store_dir=tls_dir / "store", extra_args=args) as server:
        yield server


@pytest.fixture(scope="module")
def tls_worker(tls_server: NatsServer, tls_dir: Path, start_worker: StartWorker) -> Iterator[WorkerProcess]:
    worker = start_worker(
        "--actor",
        "fb-auth",
        extra_env={"NATS_URL": f"tls://127.0.0.1:{tls_server.port}", "NATS_TLS_CA": str(tls_dir / "ca.pem")},
    )
    yield worker
    worker.stop()


async def test_tls_with_the_ca_from_env_for_worker_and_requester(
    tls_server: NatsServer, tls_dir: Path, tls_worker: WorkerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NATS_TLS_CA", str(tls_dir / "ca.pem"))
    assert await _request_with([f"tls://127.0.0.1:{tls_server.port}"], "over tls") == "over tls"


async def test_tls_without_the_ca_is_nats_unavailable_fast(tls_server: NatsServer) -> None:
    started = time.monotonic()
    with pytest.raises(NatsUnavailable, match="cannot connect to NATS") as info:
        await _request_with([f"tls://127.0.0.1:{tls_server.port}"], "x")
    assert time.monotonic() - started < 2.5, "within CONNECT_TIMEOUT, not a hang"
    print(f"\n[tls] without NATS_TLS_CA: {info.value}")


# ---------------------------------------------------------------------------------------- NKeys


@pytest.fixture(scope="module")
def nkey_seed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A fresh user NKey: (seed file, public key)."""
    seed = nkeys.encode_seed(bytes(nacl.signing.SigningKey.generate()), nkeys.PREFIX_BYTE_USER)
    path = tmp_path_factory.mktemp("nkey") / "user.nk"
    path.write_bytes(seed)
    path.chmod(0o600)
    return path, nkeys.from_seed(bytearray(seed)).public_key.decode()


@pytest.fixture(scope="module")
def nkey_server(
    nkey_seed: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[NatsServer]:
    folder = tmp_path_factory.mktemp("nkey-server")
    config = folder / "nats.conf"
    config.write_text(f'authorization {{ users = [ {{ nkey: "{nkey_seed[1]}" }} ] }}\n')
    with NatsServer(store_dir=folder / "store", extra_args=("-c", str(config))) as server:
        yield server


async def test_nkey_seed_from_env_for_worker_and_requester(
    nkey_server: NatsServer,
    nkey_seed: tuple[Path, str],
    start_worker: StartWorker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed_file = str(nkey_seed[0])
    worker = start_worker(
        "--actor", "fb-auth", extra_env={"NATS_URL": nkey_server.url, "NATS_NKEY_SEED": seed_file}
    )
    try:
        monkeypatch.setenv("NATS_NKEY_SEED", seed_file)
        assert await _request_with([nkey_server.url], "signed") == "signed"
        assert seed_file not in worker.log()
        assert nkey_seed[0].read_text() not in worker.log()
    finally:
        worker.stop()


async def test_no_nkey_is_nats_unavailable_fast_and_says_authorization(nkey_server: NatsServer) -> None:
    started = time.monotonic()
    with pytest.raises(NatsUnavailable) as info:
        await _request_with([nkey_server.url], "x")
    assert time.monotonic() - started < 2.5
    assert "authorization" in str(info.value).lower()


def test_nkey_seed_without_the_nkeys_package_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, nkey_seed: tuple[Path, str]
) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from walnats_django import checks
    from walnats_django.client import credentials

    monkeypatch.setenv("NATS_NKEY_SEED", str(nkey_seed[0]))
    monkeypatch.setattr(credentials.importlib.util, "find_spec", _pretend_missing("nkeys"))
    with pytest.raises(
        ImproperlyConfigured, match=r"the 'nkeys' extra of walnats-django \(or `pip install nkeys`\)"
    ):
        credentials.credentials_from_env()
    errors = checks.check_settings(None)
    assert [e.id for e in errors] == ["walnats_django.E017"]


def _pretend_missing(name: str) -> Callable[..., Any]:
    import importlib.util

    real = importlib.util.find_spec

    def find_spec(module: str, *args: Any) -> Any:
        return None if module == name else real(module, *args)

    return find_spec
