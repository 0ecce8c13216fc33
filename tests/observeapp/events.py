"""Registers the events of `declared` in the workers of the metrics and tracing tests."""

from walnats_django import registry

from .declared import OBS_ECHO, OBS_FAIL, OBS_NOTE, OBS_SLOW, TRACED_ECHO, TRACED_FAIL

for event in (OBS_ECHO, OBS_FAIL, OBS_SLOW, OBS_NOTE, TRACED_ECHO, TRACED_FAIL):
    registry.add(event)
