"""Template filters of the on-call pages."""

from __future__ import annotations

from datetime import datetime

from django import template

from apps.oncall.calendar import local_text
from apps.oncall.models import Schedule

register = template.Library()


@register.filter
def local(moment: datetime, schedule: Schedule) -> str:
    """``moment`` on the schedule's clock, e.g. "Mon 06 Jan 09:00"."""
    return local_text(moment, schedule)
