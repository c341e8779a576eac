"""Title and message templates: ``{{ name }}`` placeholders, nothing else.

Rule authors are tenants, so templates are not Django templates (no tags, no filters, no attribute access
on objects): a placeholder names one of the values below, and an unknown name is refused when the rule is
saved, so a notification never goes out with a hole in it.

Names: ``rule``, ``severity``, ``state``, ``project``, ``values.<query>`` (the measured value),
``labels.<name>`` (the rule's labels and the alert's group, e.g. ``labels.service``) and the links
``link.incident``, ``link.chart``, ``link.traces``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from apps.notifications.message import display_value

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")
BASE_NAMES = ("rule", "severity", "state", "project", "link.incident", "link.chart", "link.traces")
MAX_CHARS = 4000


class TemplateInvalid(ValueError):
    pass


def variables(queries: Iterable[str], group_by: Iterable[str], labels: Iterable[str]) -> set[str]:
    """Every name a rule's templates may use."""
    return {*BASE_NAMES, *(f"values.{q}" for q in queries), *(f"labels.{k}" for k in (*group_by, *labels))}


def check(template: str, names: set[str]) -> None:
    if len(template) > MAX_CHARS:
        raise TemplateInvalid(f"At most {MAX_CHARS} characters.")
    stray = PLACEHOLDER.sub("", template)
    if "{{" in stray or "}}" in stray:
        raise TemplateInvalid("An unclosed or malformed {{ placeholder }}.")
    for name in PLACEHOLDER.findall(template):
        if name not in names:
            known = ", ".join(sorted(names))
            raise TemplateInvalid(f"Unknown placeholder {{{{ {name} }}}}; known: {known}.")


def render(template: str, context: Mapping[str, Any]) -> str:
    """Fill the placeholders (values rounded for people); a name missing from ``context`` renders empty."""

    def value(match: re.Match[str]) -> str:
        found = context.get(match.group(1))
        return "" if found is None else display_value(found)

    return PLACEHOLDER.sub(value, template)
