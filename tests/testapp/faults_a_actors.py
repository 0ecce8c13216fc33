"""Actors of fault suite part a."""

from walnats_django import registry  # noqa: F401
