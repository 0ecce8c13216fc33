"""Views of the example app: JSON in, JSON out, walnats errors mapped to HTTP."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

import walnats_django
from walnats_django import (
    EventNotRegistered,
    NatsUnavailable,
    NoActors,
    PayloadTooLarge,
    RemoteError,
    RequestTimeout,
    WalnatsError,
)

from .events import COUNT_WORDS, USER_SIGNED_UP, SignUp


class BadInput(ValueError):
    """The request body is not what the view expects."""


def status_for(exc: WalnatsError) -> int:
    """HTTP status for a walnats error: the gateway's answer to a failed upstream."""
    if isinstance(exc, RemoteError):
        return 502
    if isinstance(exc, EventNotRegistered | NoActors | NatsUnavailable):
        return 503
    if isinstance(exc, RequestTimeout):
        return 504
    if isinstance(exc, PayloadTooLarge):
        return 413
    return 500


def _error(status: int, exc: Exception) -> JsonResponse:
    return JsonResponse({"error": type(exc).__name__, "detail": str(exc)}, status=status)


def _json_field(request: HttpRequest, field: str) -> Any:
    try:
        body = json.loads(request.body or b"null")
    except ValueError as exc:
        raise BadInput(f"the body is not JSON: {exc}") from exc
    if not isinstance(body, dict) or not isinstance(body.get(field), str):
        raise BadInput(f'expected a JSON object with a string "{field}"')
    return body[field]


AsyncView = Callable[[HttpRequest], Awaitable[HttpResponse]]


def json_errors(view: AsyncView) -> AsyncView:
    """Turn bad input into 400 and walnats errors into 5xx JSON answers."""

    @wraps(view)
    async def wrapped(request: HttpRequest) -> HttpResponse:
        try:
            return await view(request)
        except BadInput as exc:
            return _error(400, exc)
        except WalnatsError as exc:
            return _error(status_for(exc), exc)

    return wrapped


@csrf_exempt
@require_POST
@json_errors
async def count_words(request: HttpRequest) -> HttpResponse:
    """POST {"text": "..."} -> {"count": N}, counted by the `count-words` actor."""
    text = _json_field(request, "text")
    count = await walnats_django.request(COUNT_WORDS, text)
    return JsonResponse({"count": count})


@csrf_exempt
@require_POST
def count_words_sync(request: HttpRequest) -> HttpResponse:
    """The same from a sync (WSGI-style) view, through `request_sync`."""
    try:
        text = _json_field(request, "text")
        count = walnats_django.request_sync(COUNT_WORDS, text)
    except BadInput as exc:
        return _error(400, exc)
    except WalnatsError as exc:
        return _error(status_for(exc), exc)
    return JsonResponse({"count": count})


@csrf_exempt
@require_POST
@json_errors
async def sign_up(request: HttpRequest) -> HttpResponse:
    """POST {"email": ..., "name": ...} -> 202; `send-welcome` handles it in the background."""
    email = _json_field(request, "email")
    name = _json_field(request, "name")
    await walnats_django.emit(
        USER_SIGNED_UP, SignUp(email=email, name=name), uid=f"signup:{email}", sync=True
    )
    return JsonResponse({"accepted": True}, status=202)


@csrf_exempt
@require_POST
@json_errors
async def no_request(request: HttpRequest) -> HttpResponse:
    """The benchmark's baseline: the same JSON work as count_words, counted in-process."""
    text = _json_field(request, "text")
    return JsonResponse({"count": len(text.split())})
