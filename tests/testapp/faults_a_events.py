"""Events of fault suite part a (tests/faults/test_faults_a.py); one event per case."""

from walnats_django import Event, registry

# 1. kill -9 mid-handler: answered by another worker after ack_wait, or RequestTimeout.
FA_KILL = registry.add(Event("faults-a.kill", str).with_response(str))
# 2. 1,000 emits across worker kills: at least once, idempotent side effects exactly once.
FA_MANY = registry.add(Event("faults-a.many", str))
# 3. nats-server restarts under load: a request load and a durable-event load.
FA_LOAD = registry.add(Event("faults-a.load", str).with_response(str))
FA_DURABLE = registry.add(Event("faults-a.durable", str))
# 4. NATS down for longer than the reconnect window.
FA_SHORT = registry.add(Event("faults-a.short", str).with_response(str))
FA_OUTAGE = registry.add(Event("faults-a.outage", float).with_response(float))
# 7. handlers that run for 3x ack_wait (async and sync).
FA_LONG = registry.add(Event("faults-a.long", float).with_response(float))
FA_LONG_SYNC = registry.add(Event("faults-a.long-sync", float).with_response(float))
# 9. SIGTERM with 10 handlers in flight.
FA_GRACE = registry.add(Event("faults-a.grace", str).with_response(str))

__all__ = [
    "FA_DURABLE",
    "FA_GRACE",
    "FA_KILL",
    "FA_LOAD",
    "FA_LONG",
    "FA_LONG_SYNC",
    "FA_MANY",
    "FA_OUTAGE",
    "FA_SHORT",
]
