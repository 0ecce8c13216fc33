"""The exceptions of the AsyncAPI document: what cannot be described, and why."""

from __future__ import annotations

from ..errors import WalnatsError


class AsyncAPIError(WalnatsError, ValueError):
    """The AsyncAPI document cannot be built; the message names what to fix."""


class UnsupportedType(AsyncAPIError, TypeError):
    """A payload or answer type has no JSON Schema as its serializer sends it; change the type, or
    give a custom serializer a `json_schema()` method."""


class FormatUnavailable(AsyncAPIError):
    """The asked output format needs a package that is not installed (YAML: PyYAML)."""
