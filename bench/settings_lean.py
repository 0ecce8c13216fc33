"""The example project without middleware: shows request()'s cost without Django's per-request
sync-middleware thread hops (used by bench/http_load.py as a second, informational variant)."""

from project.settings import *  # noqa: F403

MIDDLEWARE = []
