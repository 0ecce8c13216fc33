"""Events of the outbox tests (tests/test_outbox*.py): registered here because the relay finds
events by name, in the test process and in its `relayoutbox` subprocesses alike."""

from walnats_django import Event, Limits, registry

OB_NOTE = registry.add(Event("test.outbox-note", str))
OB_OTHER = registry.add(Event("test.outbox-other", str))
# The relay test: thousands of rows, a relay killed between publishing and committing.
OB_BULK = registry.add(Event("test.outbox-bulk", str))
# A stream that is full after two messages (discard=new): JetStream rejects the third.
OB_FULL = registry.add(Event("test.outbox-full", str, limits=Limits(messages=2)))
