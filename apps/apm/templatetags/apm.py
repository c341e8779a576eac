"""Number formats of the APM pages."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def percent(value: Any, digits: int = 2) -> str:
    """0.0123 → "1.23 %"; None → "–"."""
    if value is None or value == "":
        return "–"
    return f"{float(value) * 100:.{int(digits)}f} %"


@register.filter
def ms(value: Any) -> str:
    """Milliseconds, with a precision that suits the size: 0.42 ms, 12.3 ms, 1,234 ms; None → "–"."""
    if value is None or value == "":
        return "–"
    number = float(value)
    if number < 1:
        return f"{number:.2f} ms"
    if number < 100:
        return f"{number:.1f} ms"
    return f"{number:,.0f} ms"


@register.filter
def signed_percent(value: Any) -> str:
    """A relative change: 0.25 → "+25 %"."""
    return f"{float(value) * 100:+.0f} %"


_SPAN_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


@register.filter
def span_kind(value: Any) -> str:
    """An OTLP span kind number as its name."""
    return _SPAN_KINDS.get(value, str(value))
