"""Registers the admin tests' actors (only in processes with `tests.adminapp.settings`)."""

from walnats_django import registry

from .bus import ACTORS

for _actor in ACTORS:
    registry.add(_actor)
