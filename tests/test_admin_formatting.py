"""How the admin words numbers, durations, sizes, times and types."""

from __future__ import annotations

import dataclasses
import datetime

from walnats_django.admin.formatting import ago, count, duration, number, short_type, size, type_label


@dataclasses.dataclass
class Order:
    id: int


def test_counts_are_pluralized() -> None:
    assert count(1, "consumer") == "1 consumer"
    assert count(0, "consumer") == "0 consumers"
    assert count(1000, "message") == "1,000 messages"
    assert count(2, "orphan consumer") == "2 orphan consumers"
    assert count(3, "child", "children") == "3 children"


def test_durations_name_their_unit() -> None:
    assert duration(30) == "30 s"
    assert duration(90) == "90 s (1.5 minutes)"
    assert duration(3600) == "3,600 s (1 hour)"
    assert duration(86400) == "86,400 s (1 day)"
    assert duration(7 * 86400) == "604,800 s (7 days)"
    assert duration(0.25) == "0.25 s"


def test_numbers_sizes_and_times() -> None:
    assert number(86400) == "86,400"
    assert number(2.5) == "2.5"
    assert size(512) == "512\xa0bytes"
    assert size(1536) == "1.5\xa0KB"
    now = datetime.datetime(2026, 1, 1, 12, tzinfo=datetime.UTC)
    assert ago(None, now) == "never"
    assert ago(now - datetime.timedelta(seconds=12), now) == "12 s ago"
    assert ago(now - datetime.timedelta(minutes=3), now) == "3\xa0minutes ago"


def test_type_labels() -> None:
    assert type_label(str) == "str"
    assert type_label(Order) == "tests.test_admin_formatting.Order"
    assert short_type(Order) == "Order"
    assert type_label(list[int]) == "list[int]"
