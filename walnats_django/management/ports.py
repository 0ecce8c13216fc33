"""TCP ports and hosts on the command line: an argparse type, a free-port probe, a host for URLs."""

from __future__ import annotations

import argparse
import socket


def port_number(value: str) -> int:
    """argparse type: a TCP port, 1-65535."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if not 1 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a TCP port (1-65535)")
    return number


def port_is_free(host: str, port: int) -> bool:
    """Whether nothing listens on host:port (bound with SO_REUSEADDR, as servers bind)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    except socket.gaierror:
        return True  # a bad host is the server's to report
    try:
        with socket.create_server((host, port), family=family):
            return True
    except OSError:
        return False


def url_host(host: str) -> str:
    """The host to put in a client URL for a server bound to `host` (all interfaces: loopback)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host
