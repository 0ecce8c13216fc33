"""Events of the fault suite (tests/faults/), one per case so that cases cannot disturb each other.

Grouped by the test module that uses them. Their wire names (`faults-a.*`, `faults-b.*`) are
those the tests were written with; the tests assert on them, so they stay.
"""

from walnats_django import Event, Limits, registry

# -- test_outages.py: nats-server restarts under load, and NATS down for longer than the
# reconnect window (a request load and a durable-event load; a quick and a long actor).
FA_LOAD = registry.add(Event("faults-a.load", str).with_response(str))
FA_DURABLE = registry.add(Event("faults-a.durable", str))
FA_SHORT = registry.add(Event("faults-a.short", str).with_response(str))
FA_OUTAGE = registry.add(Event("faults-a.outage", float).with_response(float))

# -- test_worker_crashes.py
# kill -9 mid-handler: answered by another worker after ack_wait, or RequestTimeout.
FA_KILL = registry.add(Event("faults-a.kill", str).with_response(str))
# 1,000 emits across worker kills: at least once, idempotent side effects exactly once.
FA_MANY = registry.add(Event("faults-a.many", str))
# SIGTERM with 10 handlers in flight.
FA_GRACE = registry.add(Event("faults-a.grace", str).with_response(str))

# -- test_deadlines.py
# Caller timeout shorter than the handler; deadlines that pass before delivery.
FB_SLOW = registry.add(Event("faults-b.slow", float).with_response(float))
FB_EXPIRE = registry.add(Event("faults-b.expire", str).with_response(str))
# Handlers that run for 3x ack_wait (async and sync).
FA_LONG = registry.add(Event("faults-a.long", float).with_response(float))
FA_LONG_SYNC = registry.add(Event("faults-a.long-sync", float).with_response(float))

# -- test_dead_letters.py
# A handler that always raises -> max_attempts deliveries, one dead letter, RemoteError at once.
FB_DEAD = registry.add(Event("faults-b.dead", str).with_response(int))
# Undecodable and wrong-schema payloads -> terminated at once, dead letter with the raw bytes.
FB_BAD = registry.add(Event("faults-b.bad", str).with_response(str))
# Retry delay indexing: the first retry waits retry_delay[0].
FB_RETRY = registry.add(Event("faults-b.retry", str).with_response(str))
# Dead-letter recording that fails at first (the dead-letter stream refuses), then works again.
FB_DLFAIL = registry.add(Event("faults-b.dlfail", str))

# -- test_deadletters_command.py: one event, two actors (one always fine, one failing until a
# flag file exists).
FB_DL = registry.add(Event("faults-b.dl", str))

# -- test_consumers.py: the consumer is deleted under a running worker (with and without
# --no-register).
FB_LOST = registry.add(Event("faults-b.lost", str).with_response(str))
FB_NOREG = registry.add(Event("faults-b.noreg", str).with_response(str))

# -- test_limits.py
# Payloads at and over the server's max_payload.
FB_BIG = registry.add(Event("faults-b.big", bytes).with_response(int))
# Backpressure: a full stream (discard=new). Its consumer is made by the test; no worker runs it.
FB_FULL = registry.add(Event("faults-b.full", str, limits=Limits(messages=2)).with_response(str))

# -- test_reply_security.py: forged reply subjects and header echo (error answers come from
# FB_DEAD's actor).
FB_FORGE = registry.add(Event("faults-b.forge", str).with_response(str))

# -- test_duplicates.py: duplicate uid.
FB_DUP = registry.add(Event("faults-b.dup", str).with_response(str))

# -- test_credentials.py, test_tls_nkeys.py: servers that want credentials.
FB_AUTH = registry.add(Event("faults-b.auth", str).with_response(str))

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
    "FB_AUTH",
    "FB_BAD",
    "FB_BIG",
    "FB_DEAD",
    "FB_DL",
    "FB_DLFAIL",
    "FB_DUP",
    "FB_EXPIRE",
    "FB_FORGE",
    "FB_FULL",
    "FB_LOST",
    "FB_NOREG",
    "FB_RETRY",
    "FB_SLOW",
]
