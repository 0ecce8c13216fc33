"""Views of the example app: JSON in, JSON out, walnats errors mapped to HTTP."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

import walnats_django
from walnats_django import (
    DuplicateRequest,
    EventNotRegistered,
    InvalidHeader,
    JetStreamDisabled,
    NatsUnavailable,
    NoActors,
    NotARequestEvent,
    PayloadTooLarge,
    PayloadTypeError,
    PublishRejected,
    RemoteError,
    RequestTimeout,
    SerializationError,
    WalnatsError,
)

from .events import COUNT_WORDS, USER_SIGNED_UP, SignUp
from .models import Welcome


class BadInput(ValueError):
    """The request body is not what the view expects; the message says what is wrong."""


class BodyTooLarge(BadInput):
    """The request body is over DATA_UPLOAD_MAX_MEMORY_SIZE."""


STATUS: dict[type[Exception], int] = {
    BadInput: 400,
    BodyTooLarge: 413,
    # The README's "Errors" table: the caller's fault is 4xx, a failed upstream 502-504.
    PayloadTypeError: 400,
    SerializationError: 500,
    PayloadTooLarge: 413,
    InvalidHeader: 400,
    NotARequestEvent: 500,
    EventNotRegistered: 503,
    NoActors: 503,
    NatsUnavailable: 503,
    JetStreamDisabled: 503,
    PublishRejected: 503,
    DuplicateRequest: 409,
    RemoteError: 502,
    RequestTimeout: 504,
}
"""HTTP status per error class; the nearest class in the MRO wins, anything else is 500."""

HANDLED = (BadInput, WalnatsError)
"""What the views answer with a JSON error; anything else is a bug, for Django's 500 page."""


def status_for(exc: Exception) -> int:
    """HTTP status for a bad input or a walnats error."""
    return next((STATUS[cls] for cls in type(exc).__mro__ if cls in STATUS), 500)


def error_response(exc: Exception) -> JsonResponse:
    return JsonResponse({"error": type(exc).__name__, "detail": str(exc)}, status=status_for(exc))


JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "true or false",
    type(None): "null",
}
"""How the error messages name what json.loads gave."""


def _json_object(request: HttpRequest) -> dict[str, Any]:
    try:
        text = request.body.decode()  # JSON between systems is UTF-8 (RFC 8259)
        body = json.loads(text)
    except RequestDataTooBig:
        raise BodyTooLarge(
            f"the body is over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes (DATA_UPLOAD_MAX_MEMORY_SIZE)"
        ) from None
    except UnicodeDecodeError as exc:
        raise BadInput(f"the body is not UTF-8: {exc}") from None
    except RecursionError:  # json.loads recurses once per "[" or "{"
        raise BadInput("the body's JSON is nested too deeply") from None
    except ValueError as exc:
        raise BadInput(f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadInput(f"the body must be a JSON object, got {JSON_TYPES[type(body)]}")
    return body


def _string(body: dict[str, Any], field: str) -> str:
    if field not in body:
        raise BadInput(f'"{field}" is missing')
    value = body[field]
    if not isinstance(value, str):
        raise BadInput(f'"{field}" must be a string, got {JSON_TYPES[type(value)]}')
    try:
        value.encode()
    except UnicodeEncodeError:
        raise BadInput(f'"{field}" is not valid Unicode (it has a lone surrogate)') from None
    return value


def _sign_up(body: dict[str, Any]) -> SignUp:
    """A sign-up the Welcome model accepts (length, email syntax), so the actor cannot fail on it."""
    signup = SignUp(email=_string(body, "email"), name=_string(body, "name"))
    try:
        Welcome(email=signup.email, name=signup.name).clean_fields()
    except ValidationError as exc:
        problems = (f'"{field}": {" ".join(messages)}' for field, messages in exc.message_dict.items())
        raise BadInput("; ".join(problems)) from None
    return signup


AsyncView = Callable[[HttpRequest], Awaitable[HttpResponse]]


def json_errors(view: AsyncView) -> AsyncView:
    """Answer bad input and walnats errors with a JSON error and the status of `STATUS`."""

    @wraps(view)
    async def wrapped(request: HttpRequest) -> HttpResponse:
        try:
            return await view(request)
        except HANDLED as exc:
            return error_response(exc)

    return wrapped


@csrf_exempt
@require_POST
@json_errors
async def count_words(request: HttpRequest) -> HttpResponse:
    """POST {"text": "..."} -> {"count": N}, counted by the `count-words` actor."""
    text = _string(_json_object(request), "text")
    count = await walnats_django.request(COUNT_WORDS, text)
    return JsonResponse({"count": count})


@csrf_exempt
@require_POST
def count_words_sync(request: HttpRequest) -> HttpResponse:
    """The same from a sync (WSGI-style) view, through `request_sync`."""
    try:
        text = _string(_json_object(request), "text")
        count = walnats_django.request_sync(COUNT_WORDS, text)
    except HANDLED as exc:
        return error_response(exc)
    return JsonResponse({"count": count})


@csrf_exempt
@require_POST
@json_errors
async def sign_up(request: HttpRequest) -> HttpResponse:
    """POST {"email": ..., "name": ...} -> 202; `send-welcome` handles it in the background."""
    signup = _sign_up(_json_object(request))
    await walnats_django.emit(USER_SIGNED_UP, signup, uid=f"signup:{signup.email}", wait=True)
    return JsonResponse({"accepted": True}, status=202)


@csrf_exempt
@require_POST
@json_errors
async def no_request(request: HttpRequest) -> HttpResponse:
    """The benchmark's baseline: the same JSON work as count_words, counted in-process."""
    text = _string(_json_object(request), "text")
    return JsonResponse({"count": len(text.split())})
