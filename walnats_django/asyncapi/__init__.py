"""The AsyncAPI 3.0 contract of the project's events and actors (`manage.py asyncapi`)."""

from .document import Info, build_document
from .errors import AsyncAPIError, FormatUnavailable, UnsupportedType
from .payloads import DescribedSerializer
from .render import render

__all__ = [
    "AsyncAPIError",
    "DescribedSerializer",
    "FormatUnavailable",
    "Info",
    "UnsupportedType",
    "build_document",
    "render",
]
