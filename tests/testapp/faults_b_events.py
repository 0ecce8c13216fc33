"""Events of fault suite part b."""

from walnats_django import Event, registry  # noqa: F401
