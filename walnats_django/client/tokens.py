"""Reply tokens: unique by a counter, unguessable by their random part."""

from __future__ import annotations

import os

TOKEN_RANDOM_BYTES = 6
"""Random bytes in each reply token (48 bits)."""


class ReplyTokens:
    """Makes the last subject token of reply subjects under a connection's inbox.

    Anyone who may publish under the inbox prefix and saw one reply subject must not be able
    to forge another request's answer. The random bytes come from `os.urandom` in blocks: one
    system call per 512 tokens.
    """

    __slots__ = ("_at", "_counter", "_random")

    def __init__(self) -> None:
        self._counter = 0
        self._random = b""
        self._at = 0

    def next(self) -> str:
        """A new token: the counter in hex, then the random bytes in hex."""
        self._counter += 1
        at = self._at
        if at >= len(self._random):
            self._random = os.urandom(TOKEN_RANDOM_BYTES * 512)
            at = 0
        self._at = at + TOKEN_RANDOM_BYTES
        return f"{self._counter:x}{self._random[at : at + TOKEN_RANDOM_BYTES].hex()}"
