"""Test settings with a short reconnect window: the worker's connection closes for good fast."""

from tests.settings import *  # noqa: F403

WALNATS = {
    "REQUEST_TIMEOUT": 4.0,
    "CONNECT_OPTIONS": {"max_reconnect_attempts": 2, "reconnect_time_wait": 0.2},
}
