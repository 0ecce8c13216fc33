"""The size check made before sending: a message over the server's max_payload never leaves."""

from __future__ import annotations

from ..errors import PayloadTooLarge
from ..wire import encoded_size


def check_size(max_payload: int, subject: str, payload: bytes, headers: dict[str, str]) -> None:
    """Raise `PayloadTooLarge` when payload plus headers exceed `max_payload`."""
    # A cheap upper bound first (a character takes at most 4 bytes in UTF-8).
    bound = len(payload) + 16
    for key, value in headers.items():
        bound += 4 * (len(key) + len(value) + 4)
    if bound <= max_payload:
        return
    size = len(payload) + encoded_size(headers)
    if size > max_payload:
        raise PayloadTooLarge(
            f"the message for {subject!r} takes {size} bytes with headers, over the server's "
            f"max_payload of {max_payload}; send a reference (e.g. a URL or an id) instead."
        )
