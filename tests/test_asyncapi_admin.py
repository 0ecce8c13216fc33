"""The admin's AsyncAPI page and JSON download: staff only, readable offline, escaped."""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils.html import escape
from pytest_django.fixtures import Settings as SettingsWrapper

from tests.asyncapi.kinds import ACTORS, KINDS
from walnats_django import Event, registry

pytestmark = pytest.mark.django_db

PAGE = "/admin/walnats_django/registeredevent/asyncapi/"
JSON_URL = "/admin/walnats_django/registeredevent/asyncapi.json"


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(User.objects.create_user("ops", is_staff=True))
    return client


@pytest.fixture
def kinds_registered() -> Iterator[None]:
    """The project's registry holds only the kinds (tests/asyncapi/kinds.py) during the test."""
    with registry.isolated():
        for kind in KINDS:
            registry.add(kind.event)
        for actor in ACTORS:
            registry.add(actor)
        yield


def test_the_urls_are_the_admins() -> None:
    assert reverse("admin:walnats_django_registeredevent_asyncapi") == PAGE
    assert reverse("admin:walnats_django_registeredevent_asyncapi_json") == JSON_URL


@pytest.mark.parametrize("url", [PAGE, JSON_URL])
def test_anonymous_and_non_staff_visitors_go_to_the_login(url: str) -> None:
    anonymous = Client().get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/admin/login/?next=")
    member = Client()
    member.force_login(User.objects.create_user("member"))
    assert member.get(url).status_code == 302


def test_the_page_reads_the_document(staff: Client, kinds_registered: None) -> None:
    response = staff.get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<script" not in html.split("</head>")[1]  # no script in the body (works offline)
    assert "cdn" not in html.lower()
    assert 'id="channel-kinds.order"' in html
    assert "<code>kinds.order</code>" in html  # the subject
    assert "storage: <strong>memory</strong>" in html
    assert "max_age: <strong>3600 s</strong>" in html
    assert "max_bytes: <strong>unlimited</strong>" in html
    assert 'data-operation="receive.kinds.ship.ship-it"' in html
    assert "retry_delay: <strong>1, 5 s</strong>" in html
    assert "Reply: Answer of kinds.ship" in html
    assert "Reply: Error answer of kinds.ship" in html
    # Fields of a dataclass component, with links to nested components.
    schema = html[html.index('id="schema-Order"') :]
    assert '<a href="#schema-Address">list of Address</a>' in schema
    assert "<td>one of &quot;retail&quot;, &quot;wholesale&quot;</td>" in schema
    assert '<a href="#schema-walnats-request-headers">walnats-request-headers</a>' in html
    assert "<code>application/octet-stream</code>" in html  # kinds.blob
    assert 'href="/admin/walnats_django/registeredevent/asyncapi.json"' in html


def test_descriptions_are_escaped(staff: Client, kinds_registered: None) -> None:
    registry.add(Event("test.xss", str, description='<img src=x onerror="alert(1)">'))
    html = staff.get(PAGE).content.decode()
    assert '<img src=x onerror="alert(1)">' not in html
    assert escape('<img src=x onerror="alert(1)">') in html
    assert "Ships <b>now</b>." not in html  # an actor's description
    assert escape("Ships <b>now</b>.") in html
    assert '<script>alert("x")</script>' not in html  # a dataclass docstring, in the JSON too
    assert escape('An order <script>alert("x")</script> with nested parts.') in html


def test_the_json_download_is_the_commands_document(staff: Client, kinds_registered: None) -> None:
    response = staff.get(JSON_URL)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == 'attachment; filename="asyncapi.json"'
    document = json.loads(response.content)
    assert document["info"]["title"] == "tests events"
    assert "kinds.ship" in document["channels"]


@pytest.mark.parametrize("url", [PAGE, JSON_URL])
def test_only_get(staff: Client, url: str) -> None:
    assert staff.post(url).status_code == 405


@dataclasses.dataclass
class Stamp:
    at: datetime.datetime


def test_a_document_that_cannot_be_built_says_why(staff: Client) -> None:
    with registry.isolated():
        registry.add(Event("test.stamp", Stamp))
        page = staff.get(PAGE)
        download = staff.get(JSON_URL)
    assert page.status_code == 500
    html = page.content.decode()
    error = re.search(r'<p class="errornote" id="asyncapi-error">(.*?)</p>', html, re.S)
    assert error is not None
    assert (
        "payload of event &#x27;test.stamp&#x27;, field &#x27;at&#x27;: datetime cannot be encoded"
        in error[1]
    )
    assert download.status_code == 500
    assert download.content.decode().startswith(
        "The AsyncAPI document cannot be built: payload of event 'test.stamp'"
    )


def test_the_registered_events_page_links_to_it(staff: Client, settings: SettingsWrapper) -> None:
    settings.WALNATS = {"SERVERS": ["nats://127.0.0.1:1"]}  # nothing listens: the page renders without NATS
    html = staff.get("/admin/walnats_django/registeredevent/").content.decode()
    link = re.search(r'<p id="asyncapi-link">(.*?)</p>', html, re.S)
    assert link is not None
    assert f'href="{PAGE}"' in link[1]
    assert f'href="{JSON_URL}"' in link[1]
