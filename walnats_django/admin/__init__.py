"""The walnats admin: "Registered events" (overview, a page per event, orphan consumers, the
test-message form, the AsyncAPI contract) and "Dead letters"; with Django's Tasks framework also
"Task queues" and "Task results" (walnats_django/tasks/admin_pages.py).

Table-less models put the pages in the admin index; they read the registry and NATS, never a table.
"""

from django.contrib import admin

from ..models import DeadLetter, RegisteredEvent
from .dead_letters import DeadLetterAdmin
from .events import RegisteredEventAdmin
from .live import NOT_CREATED, Live, scrub

__all__ = ["NOT_CREATED", "DeadLetterAdmin", "Live", "RegisteredEventAdmin", "scrub"]

admin.site.register(RegisteredEvent, RegisteredEventAdmin)
admin.site.register(DeadLetter, DeadLetterAdmin)

try:
    from ..tasks import admin_pages  # noqa: F401  (registers the task pages)
except ModuleNotFoundError as exc:
    if exc.name not in ("django_tasks", "django.tasks"):
        raise
