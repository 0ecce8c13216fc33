"""Actors of fault suite part b."""

from walnats_django import registry  # noqa: F401
