"""Side effects of test actors: lines appended to files in WALNATS_TEST_RECORD_DIR."""

import os
from pathlib import Path


def record_folder() -> Path | None:
    """The folder the tests gave the worker, or None outside the tests."""
    folder = os.environ.get("WALNATS_TEST_RECORD_DIR")
    return Path(folder) if folder else None


def record(name: str, line: str) -> None:
    """Append `line` to the record file `name`."""
    folder = record_folder()
    if folder is not None:
        with open(folder / name, "a") as fh:
            fh.write(line + "\n")
