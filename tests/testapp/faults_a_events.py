"""Events of fault suite part a."""

from walnats_django import Event, registry  # noqa: F401
