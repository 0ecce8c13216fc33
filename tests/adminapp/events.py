"""Registers the admin tests' events (only in processes with `tests.adminapp.settings`)."""

from walnats_django import registry

from .bus import EVENTS

for _event in EVENTS:
    registry.add(_event)
