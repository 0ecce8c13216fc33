"""The document as JSON or YAML text (YAML needs PyYAML: `pip install 'walnats-django[asyncapi]'`)."""

from __future__ import annotations

import json
from typing import Any

from .errors import FormatUnavailable

FORMATS = ("json", "yaml")


def render(document: dict[str, Any], output_format: str = "json") -> str:
    """`document` as text in `output_format` ("json" or "yaml"), ending with a newline."""
    if output_format == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if output_format == "yaml":
        try:
            import yaml
        except ImportError:
            raise FormatUnavailable(
                "YAML output needs PyYAML: pip install 'walnats-django[asyncapi]' (or use --format json)."
            ) from None
        text: str = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
        return text
    raise ValueError(f"unknown format {output_format!r}; use one of {', '.join(FORMATS)}.")
