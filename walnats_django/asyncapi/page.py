"""The document as the admin's readable page shows it: sections per event, tables of fields.

Read from the built document (not the registry), so the page shows exactly the contract; the
template escapes every value, descriptions included.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from .document import REPLY_PREFIX
from .schema import REF_PREFIX, Schema


@dataclasses.dataclass(frozen=True)
class Field:
    """One property of an object schema."""

    name: str
    type: str
    ref: str | None
    """The component the type names, for a link."""
    required: bool
    description: str


@dataclasses.dataclass(frozen=True)
class SchemaView:
    """A schema as a type label, its fields (objects) and the JSON itself."""

    type: str
    ref: str | None
    fields: list[Field]
    json: str


@dataclasses.dataclass(frozen=True)
class MessageView:
    key: str
    title: str
    summary: str
    content_type: str
    headers: str | None
    """The header schema's component key."""
    payload: SchemaView


@dataclasses.dataclass(frozen=True)
class OperationView:
    key: str
    action: str
    title: str
    summary: str
    settings: list[tuple[str, str]]
    replies: bool


@dataclasses.dataclass(frozen=True)
class ChannelView:
    key: str
    address: str
    description: str
    stream: list[tuple[str, str]]
    messages: list[MessageView]
    replies: list[MessageView]
    operations: list[OperationView]


@dataclasses.dataclass(frozen=True)
class ComponentView:
    key: str
    title: str
    description: str
    schema: SchemaView


@dataclasses.dataclass(frozen=True)
class Page:
    title: str
    version: str
    description: str
    asyncapi: str
    servers: list[tuple[str, str, str, str]]
    """(key, host, protocol, description)"""
    channels: list[ChannelView]
    components: list[ComponentView]


def page_of(document: dict[str, Any]) -> Page:
    """The readable form of a document made by `build_document`."""
    channels = document.get("channels", {})
    operations = document.get("operations", {})
    return Page(
        title=document["info"]["title"],
        version=document["info"]["version"],
        description=document["info"].get("description", ""),
        asyncapi=document["asyncapi"],
        servers=[
            (key, server["host"], server["protocol"], server.get("description", ""))
            for key, server in document.get("servers", {}).items()
        ],
        channels=[
            _channel(key, channel, channels.get(REPLY_PREFIX + key), operations)
            for key, channel in channels.items()
            if not key.startswith(REPLY_PREFIX)
        ],
        components=[
            ComponentView(
                key=key,
                title=schema.get("title", key),
                description=schema.get("description", ""),
                schema=schema_view(schema),
            )
            for key, schema in document.get("components", {}).get("schemas", {}).items()
        ],
    )


def _channel(key: str, channel: Schema, reply: Schema | None, operations: dict[str, Schema]) -> ChannelView:
    target = {"$ref": f"#/channels/{key}"}
    return ChannelView(
        key=key,
        address=channel["address"],
        description=channel.get("description", ""),
        stream=[_setting(name, value) for name, value in channel.get("x-walnats-stream", {}).items()],
        messages=[_message(k, m) for k, m in channel.get("messages", {}).items()],
        replies=[_message(k, m) for k, m in (reply or {}).get("messages", {}).items()],
        operations=[
            OperationView(
                key=op_key,
                action=operation["action"],
                title=operation.get("title", op_key),
                summary=operation.get("summary", ""),
                settings=[
                    _setting(name, value) for name, value in operation.get("x-walnats-actor", {}).items()
                ],
                replies="reply" in operation,
            )
            for op_key, operation in operations.items()
            if operation["channel"] == target
        ],
    )


def _message(key: str, message: Schema) -> MessageView:
    headers = message.get("headers", {}).get("$ref", "")
    return MessageView(
        key=key,
        title=message.get("title", key),
        summary=message.get("summary", ""),
        content_type=message.get("contentType", ""),
        headers=headers.removeprefix(REF_PREFIX) or None,
        payload=schema_view(message.get("payload", {})),
    )


def schema_view(schema: Schema) -> SchemaView:
    required = set(schema.get("required", []))
    fields = [
        Field(
            name=name,
            type=type_label(prop),
            ref=_ref(prop),
            required=name in required,
            description=str(prop.get("description", "")) if isinstance(prop, dict) else "",
        )
        for name, prop in schema.get("properties", {}).items()
    ]
    return SchemaView(
        type=type_label(schema),
        ref=_ref(schema),
        fields=fields,
        json=json.dumps(schema, indent=2, ensure_ascii=False),
    )


def type_label(schema: Any) -> str:
    """A short reading of a schema: `string (date-time)`, `list of Address`, `integer or null`."""
    if not isinstance(schema, dict) or not schema:
        return "any"
    if "$ref" in schema:
        return str(schema["$ref"]).removeprefix(REF_PREFIX)
    if "const" in schema:
        return f"= {json.dumps(schema['const'])}"
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(value) for value in schema["enum"])
    for combined in ("anyOf", "oneOf"):
        if combined in schema:
            return " or ".join(type_label(option) for option in schema[combined])
    kind = schema.get("type")
    if kind == "array":
        items = schema.get("items")
        if isinstance(items, list):
            return "tuple of (" + ", ".join(type_label(item) for item in items) + ")"
        return f"list of {type_label(items)}" if items else "list"
    if (
        kind == "object"
        and "properties" not in schema
        and isinstance(schema.get("additionalProperties"), dict)
    ):
        return f"map of string to {type_label(schema['additionalProperties'])}"
    if isinstance(kind, str):
        return f"{kind} ({schema['format']})" if "format" in schema else kind
    return "any"


def _ref(schema: Any) -> str | None:
    """The component a schema names, directly or as the items of a list."""
    if not isinstance(schema, dict):
        return None
    for candidate in (schema, schema.get("items"), schema.get("additionalProperties")):
        if isinstance(candidate, dict) and "$ref" in candidate:
            return str(candidate["$ref"]).removeprefix(REF_PREFIX)
    return None


_UNITS = {
    "max_age": "s",
    "ack_wait": "s",
    "job_timeout": "s",
    "retry_delay": "s",
    "max_bytes": "bytes",
    "max_msg_size": "bytes",
}


def _setting(name: str, value: object) -> tuple[str, str]:
    """A stream or actor setting as (name, text with its unit); null reads "unlimited"."""
    if value is None:
        return name, "unlimited"
    items = value if isinstance(value, list) else [value]
    text = ", ".join(_number(item) for item in items) or "none"
    unit = _UNITS.get(name)
    return name, f"{text} {unit}" if unit and text != "none" else text


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
