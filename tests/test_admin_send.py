"""The admin's "Send a test message" form: its own permission, CSRF, payloads checked by the event's
serializer, and the answer or the typed error with its timing, against a real worker."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.core.exceptions import ValidationError
from django.test import Client

from tests.adminapp import bus
from tests.adminapp.fixtures import admin_bus, admin_worker  # noqa: F401
from tests.helpers import unique, wait_lines
from tests.testapp.events import LONELY
from walnats_django import Event
from walnats_django.admin.test_message import Outcome, payload_from_json
from walnats_django.sync import run_sync

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("admin_bus", "admin_worker")]

URL = "/admin/walnats_django/registeredevent/send/"
OVERVIEW = "/admin/walnats_django/registeredevent/"


def send(client: Client, event: str, mode: str, payload: str, timeout: str = "") -> Outcome | None:
    response = client.post(URL, {"event": event, "mode": mode, "payload": payload, "timeout": timeout})
    assert response.status_code == 200
    outcome: Outcome | None = response.context["outcome"]
    return outcome


def errors(client: Client, event: str, mode: str, payload: str, timeout: str = "") -> dict[str, list[str]]:
    response = client.post(URL, {"event": event, "mode": mode, "payload": payload, "timeout": timeout})
    assert response.context["outcome"] is None
    found: dict[str, list[str]] = response.context["form"].errors
    return found


def test_a_request_is_answered_with_its_timing(admin_client: Client) -> None:
    outcome = send(admin_client, bus.GREET.name, "request", '"Ada"')
    assert outcome is not None
    assert outcome.ok
    assert outcome.answer == '"Hello, Ada!"'
    assert outcome.answer_type == "str"
    assert 0 < outcome.elapsed_ms < 4000
    content = admin_client.post(URL, {"event": bus.GREET.name, "mode": "request", "payload": '"Bo"'}).content
    assert b"Answered in <strong" in content
    assert b"&quot;Hello, Bo!&quot;" in content


def test_the_typed_error_is_shown(admin_client: Client) -> None:
    failed = send(admin_client, bus.GREET.name, "request", '"boom"', timeout="3")
    assert failed is not None
    assert failed.error_type == "RemoteError"
    assert failed.error == "ValueError in actor 'admin-greet': cannot greet 'boom'"
    nobody = send(admin_client, LONELY.name, "request", '"hello?"', timeout="0.5")
    assert nobody is not None
    assert nobody.error_type in {"EventNotRegistered", "NoActors"}
    assert nobody.elapsed_ms < 3000


def test_an_emit_is_stored_and_handled(admin_client: Client, record_dir: Path) -> None:
    bus.broken_switch(record_dir).unlink(missing_ok=True)
    text = unique("emitted")
    outcome = send(admin_client, bus.JOB.name, "emit", f'"{text}"')
    assert outcome is not None
    assert outcome.ok
    assert outcome.answer is None
    run_sync(wait_lines(record_dir / "admin-job", 1, keep=lambda line: line == text))


def test_bad_input_gets_form_errors(admin_client: Client) -> None:
    assert errors(admin_client, bus.GREET.name, "request", "'single quotes'")["payload"] == [
        "Not valid JSON: Expecting value (line 1, column 1)."
    ]
    assert errors(admin_client, bus.GREET.name, "request", "42")["payload"] == [
        "payload of event 'test.admin-greet' must be str, got int: 42"
    ]
    assert errors(admin_client, bus.JOB.name, "request", '"x"')["mode"] == [
        "Event 'test.admin-job' has no response type: emit it instead."
    ]
    assert "leave the timeout empty" in errors(admin_client, bus.JOB.name, "emit", '"x"', "2")["timeout"][0]
    assert (
        "Ensure this value is less than or equal to 60"
        in errors(admin_client, bus.GREET.name, "request", '"x"', "600")["timeout"][0]
    )
    assert "Select a valid choice" in errors(admin_client, "no.such-event", "emit", '"x"')["event"][0]


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int


def test_payloads_go_through_the_events_serializer() -> None:
    assert payload_from_json(Event("t.point", Point), '{"x": 1, "y": 2}') == Point(1, 2)
    with pytest.raises(ValidationError, match=r"cannot decode payload of event 't\.point'.*'y'"):
        payload_from_json(Event("t.point", Point), '{"x": 1}')
    when = payload_from_json(Event("t.when", datetime.datetime), '"2024-05-01T12:00:00"')
    assert when == datetime.datetime(2024, 5, 1, 12)
    with pytest.raises(ValidationError, match="write the payload as a JSON string"):
        payload_from_json(Event("t.when", datetime.datetime), "2024")
    assert payload_from_json(Event("t.raw", bytes), '"raw"') == b"raw"
    assert payload_from_json(Event("t.list", list), "[1, 2]") == [1, 2]


def test_only_with_its_permission(django_user_model: type[User]) -> None:
    user = django_user_model.objects.create_user("ops", is_staff=True)
    client = Client()
    client.force_login(user)
    assert client.get(URL).status_code == 403
    form = {"event": bus.GREET.name, "mode": "request", "payload": '"x"'}
    assert client.post(URL, form).status_code == 403
    assert f'href="{URL}"' not in client.get(OVERVIEW).content.decode()

    user.user_permissions.add(Permission.objects.get(codename="send_test_message"))
    client.force_login(django_user_model.objects.get(pk=user.pk))
    assert client.get(URL).status_code == 200
    assert f'href="{URL}"' in client.get(OVERVIEW).content.decode()
    assert client.get(URL + f"?event={bus.GREET.name}").context["form"].initial == {"event": bus.GREET.name}


def test_a_post_needs_the_csrf_token(admin_user: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    form = {"event": bus.GREET.name, "mode": "request", "payload": '"x"'}
    assert client.post(URL, form).status_code == 403
    page = client.get(URL)
    assert b'name="csrfmiddlewaretoken"' in page.content
    token = page.context["csrf_token"]
    assert client.post(URL, {**form, "csrfmiddlewaretoken": str(token)}).status_code == 200
