"""Events of fault suite part b (each case has its own event, so cases cannot disturb each other)."""

from walnats_django import Event, Limits, registry

# 5: a handler that always raises -> max_attempts deliveries, one dead letter, RemoteError at once.
FB_DEAD = registry.add(Event("faults-b.dead", str).with_response(int))
# 6: undecodable and wrong-schema payloads -> terminated at once, dead letter with the raw bytes.
FB_BAD = registry.add(Event("faults-b.bad", str).with_response(str))
# 8: caller timeout shorter than the handler; deadlines that pass before delivery.
FB_SLOW = registry.add(Event("faults-b.slow", float).with_response(float))
FB_EXPIRE = registry.add(Event("faults-b.expire", str).with_response(str))
# 10: the consumer is deleted under a running worker (with and without --no-register).
FB_LOST = registry.add(Event("faults-b.lost", str).with_response(str))
FB_NOREG = registry.add(Event("faults-b.noreg", str).with_response(str))
# 11: payloads at and over the server's max_payload.
FB_BIG = registry.add(Event("faults-b.big", bytes).with_response(int))
# 12: forged reply subjects and header echo.
FB_FORGE = registry.add(Event("faults-b.forge", str).with_response(str))
# 13: duplicate uid.
FB_DUP = registry.add(Event("faults-b.dup", str).with_response(str))
# Backpressure: a full stream (discard=new). Its consumer is made by the test; no worker runs it.
FB_FULL = registry.add(Event("faults-b.full", str, limits=Limits(messages=2)).with_response(str))
# Retry delay indexing: the first retry waits retry_delay[0].
FB_RETRY = registry.add(Event("faults-b.retry", str).with_response(str))
# Credentials: a server that wants a token.
FB_AUTH = registry.add(Event("faults-b.auth", str).with_response(str))
# Dead letters command: one event, two actors (one always fine, one failing until a flag file exists).
FB_DL = registry.add(Event("faults-b.dl", str))
# Dead-letter recording that fails at first (the dead-letter stream refuses), then works again.
FB_DLFAIL = registry.add(Event("faults-b.dlfail", str))
