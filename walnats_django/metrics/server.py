"""The metrics HTTP server of a `runactors` process (prometheus_client's, in a thread)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import REGISTRY, start_http_server

from ..observe.errors import MetricsServerError


def serve_metrics(addr: str, port: int) -> tuple[str, Callable[[], None]]:
    """Serve the default registry on `addr`:`port` (0: any free port); return the URL and a stop function."""
    try:
        server, thread = start_http_server(port, addr, registry=REGISTRY)
    except OSError as exc:
        raise MetricsServerError(
            f"cannot serve metrics on {addr}:{port}: {exc.strerror or exc}. Pick a free --metrics-port "
            "(each runactors process needs its own) or another --metrics-addr."
        ) from exc
    host = f"[{addr}]" if ":" in addr else addr

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return f"http://{host}:{server.server_port}/metrics", stop
