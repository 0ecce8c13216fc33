"""Command output like `runserver`'s: log lines on the terminal even when LOGGING says nothing.

A project that configures logging for `walnats_django` keeps its handlers; `-v` then only
changes the level (0: warnings and errors, 1: the default, 2 and 3: every job).
"""

from __future__ import annotations

import logging
from typing import TextIO

LEVELS = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG, 3: logging.DEBUG}
FORMAT = "[%(asctime)s] %(levelname)s %(message)s"
DATE_FORMAT = "%d/%b/%Y %H:%M:%S"


def log_to_console(verbosity: int, stream: TextIO) -> None:
    """Show `walnats_django` log lines on `stream` at the level `verbosity` asks for.

    Verbosity 3 adds nats-py's own log lines.
    """
    level = LEVELS.get(verbosity, logging.DEBUG)
    names = ["walnats_django", "nats"] if verbosity >= 3 else ["walnats_django"]
    for name in names:
        logger = logging.getLogger(name)
        if not logger.hasHandlers():
            handler = logging.StreamHandler(stream)
            handler.setFormatter(logging.Formatter(FORMAT, DATE_FORMAT))
            logger.addHandler(handler)
            logger.setLevel(level)
        elif verbosity != 1 or logger.level == logging.NOTSET:
            logger.setLevel(level)
