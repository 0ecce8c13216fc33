"""Template filters of the walnats admin pages: `{% load walnats_admin %}`."""

from __future__ import annotations

import datetime

from django import template

from ..admin.formatting import ago

register = template.Library()


@register.filter
def walnats_ago(when: datetime.datetime | None) -> str:
    """ "never", "12 s ago", "3 minutes ago"."""
    return ago(when)
