"""The admin's AsyncAPI pages: the document as a readable page (no script, no CDN) and as JSON.

Mounted under the "Registered events" admin (`urls(model_admin)`), so the admin's login, staff
check and view permission guard them; anonymous visitors are sent to the login page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from ..admin.pages import page_context
from .document import build_document, default_info
from .errors import AsyncAPIError
from .page import page_of
from .render import render

TEMPLATE = "admin/walnats_django/asyncapi.html"


def urls(model_admin: admin.ModelAdmin[Any]) -> list[URLPattern]:
    """`asyncapi/` (the page) and `asyncapi.json` (the download), named `<app>_<model>_asyncapi[_json]`."""
    prefix = f"{model_admin.opts.app_label}_{model_admin.opts.model_name}_asyncapi"
    wrap = model_admin.admin_site.admin_view

    def page_view(request: HttpRequest) -> HttpResponse:
        return page(request, model_admin)

    def json_view(request: HttpRequest) -> HttpResponse:
        return download(request, model_admin)

    return [
        path("asyncapi/", wrap(page_view), name=prefix),
        path("asyncapi.json", wrap(json_view), name=f"{prefix}_json"),
    ]


def _allow(request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> HttpResponse | None:
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    return None


def page(request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> HttpResponse:
    """The document as sections per event, with tables of fields and the JSON of each schema."""
    refused = _allow(request, model_admin)
    if refused is not None:
        return refused
    context = page_context(model_admin, request, "AsyncAPI contract")
    try:
        context["page"] = page_of(build_document(default_info()))
    except AsyncAPIError as exc:
        context["error"] = str(exc)
    return TemplateResponse(request, TEMPLATE, context, status=500 if "error" in context else 200)


def download(request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> HttpResponse:
    """The document as a JSON file (what `manage.py asyncapi` writes)."""
    refused = _allow(request, model_admin)
    if refused is not None:
        return refused
    try:
        text = render(build_document(default_info()))
    except AsyncAPIError as exc:
        return HttpResponse(
            f"The AsyncAPI document cannot be built: {exc}\n", status=500, content_type="text/plain"
        )
    response = HttpResponse(text, content_type="application/json")
    response["Content-Disposition"] = 'attachment; filename="asyncapi.json"'
    return response
