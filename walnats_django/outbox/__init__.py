"""The transactional outbox: `outbox.emit(...)` writes the event in your transaction and
`manage.py relayoutbox` publishes it, so no event is lost when NATS is down at commit.

Opt in with `INSTALLED_APPS += ["walnats_django.outbox"]` and `manage.py migrate`.
"""

from .emitting import emit
from .errors import UnregisteredEvent

__all__ = ["UnregisteredEvent", "emit"]
