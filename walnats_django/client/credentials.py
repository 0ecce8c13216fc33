"""NATS credentials from the environment, so they never live in settings files."""

from __future__ import annotations

import importlib.util
import os
import ssl
from typing import Any

from django.core.exceptions import ImproperlyConfigured

NKEYS_MISSING = (
    "NATS_CREDS and NATS_NKEY_SEED need the nkeys package (nats-py signs with it): "
    "install the 'nkeys' extra of walnats-django (or `pip install nkeys`)."
)


def credentials_from_env() -> dict[str, Any]:
    """`nats.connect()` options for the credentials in the environment.

    `NATS_CREDS` (a .creds file), `NATS_TOKEN`, `NATS_NKEY_SEED` (a seed file), and
    `NATS_TLS_CA` / `NATS_TLS_CERT` / `NATS_TLS_KEY` (PEM files). User and password go in
    `NATS_URL` (`nats://user:pass@host:4222`).
    """
    env = os.environ
    options: dict[str, Any] = {}
    if nkeys_missing():
        raise ImproperlyConfigured(NKEYS_MISSING)
    if env.get("NATS_CREDS"):
        options["user_credentials"] = env["NATS_CREDS"]
    if env.get("NATS_TOKEN"):
        options["token"] = env["NATS_TOKEN"]
    if env.get("NATS_NKEY_SEED"):
        options["nkeys_seed"] = env["NATS_NKEY_SEED"]
    if env.get("NATS_TLS_CA") or env.get("NATS_TLS_CERT"):
        context = ssl.create_default_context(cafile=env.get("NATS_TLS_CA") or None)
        if env.get("NATS_TLS_CERT"):
            context.load_cert_chain(env["NATS_TLS_CERT"], env.get("NATS_TLS_KEY") or None)
        options["tls"] = context
    return options


def nkeys_missing() -> bool:
    """Whether NATS_CREDS or NATS_NKEY_SEED is set but nats-py cannot sign (no nkeys package)."""
    wanted = os.environ.get("NATS_CREDS") or os.environ.get("NATS_NKEY_SEED")
    return bool(wanted) and importlib.util.find_spec("nkeys") is None
