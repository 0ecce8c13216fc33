"""Events used by the tests (each failure mode has its own event)."""

from walnats_django import Event, registry

ECHO = registry.add(Event("test.echo", str).with_response(str))
FAIL = registry.add(Event("test.fail", str).with_response(int))
SLOW = registry.add(Event("test.slow", float).with_response(float))
SLOW_SYNC = registry.add(Event("test.slow-sync", float).with_response(float))
NOTE = registry.add(Event("test.note", str))
HANG = registry.add(Event("test.hang", float).with_response(float))
INBOX_ECHO = registry.add(Event("test.inbox-echo", str).with_response(str))
# Registered, but no actor in this app: its stream gets no consumer.
LONELY = registry.add(Event("test.lonely", str).with_response(str))

# Events of the fault suite (tests/faults/) live in a module of their own.
from .fault_events import *  # noqa: E402, F403

# tests/test_clock_skew.py: only its worker, whose clock runs ahead, runs this event's actor.
SKEWED_ECHO = registry.add(Event("test.skewed-echo", str).with_response(str))

# Events of the cluster fault suite (tests/cluster/).
from .cluster_events import *  # noqa: E402, F403

# Events of the outbox tests (tests/test_outbox*.py).
from .outbox_events import *  # noqa: E402, F403
