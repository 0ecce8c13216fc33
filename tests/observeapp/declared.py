"""The events, declared without registering them: the test process imports these; only the workers
(tests.settings_observe installs this app) register them, so other tests never see them."""

from walnats_django import Event

# tests/test_metrics*.py
OBS_ECHO = Event("obs.echo", str).with_response(str)
OBS_FAIL = Event("obs.fail", str).with_response(str)
OBS_SLOW = Event("obs.slow", float).with_response(float)
OBS_NOTE = Event("obs.note", str)
# tests/test_tracing*.py
TRACED_ECHO = Event("traced.echo", str).with_response(str)
TRACED_FAIL = Event("traced.fail", str).with_response(str)
