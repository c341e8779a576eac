"""What an alert rule may say, checked in one place for the API, the pages and the preview.

``clean_rule`` takes the user's rule (as JSON) and returns it normalised, or raises ``RuleInvalid`` with one
message per offending field, named by its path (``queries.a.metric``, ``conditions.0.critical``), so the
API answers 400 naming the field and a form shows the message next to it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.dateparse import parse_datetime

from apps.alerting import rendering
from apps.alerting.models import NoData, Source
from apps.logs.queries import SEVERITY_NAMES
from apps.metrics import queries as metric_queries

RED_MEASURES = ("request_rate", "request_count", "error_rate", "error_count", "p50", "p95", "p99", "avg")
METRIC_AGGREGATIONS = metric_queries.AGGREGATIONS
OPERATORS = (">", ">=", "<", "<=")
# What each source can split its results by: one alert per value.
GROUP_KEYS: dict[str, tuple[str, ...]] = {
    Source.RED: ("service", "operation"),
    Source.LOGS: ("service",),
    Source.TRACES: ("service",),
}
MIN_WINDOW, MAX_WINDOW = 60, 86_400
MIN_INTERVAL, MAX_INTERVAL = 10, 86_400
QUERY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,19}$")
MAX_QUERIES = 5
MAX_CONDITIONS = 10


_URL = URLValidator(schemes=["http", "https"])


class RuleInvalid(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors


def clean_rule(data: Mapping[str, Any], *, organization_id: int, project_id: int) -> dict[str, Any]:
    """The rule's evaluation fields normalised; ``RuleInvalid`` naming every bad field."""
    errors: dict[str, str] = {}
    queries = _clean_queries(data.get("queries"), errors, organization_id, project_id)
    group_by = _clean_group_by(data.get("group_by", []), queries, errors)
    conditions = _clean_conditions(data.get("conditions"), queries, errors)
    combine = data.get("combine", "and")
    if combine not in ("and", "or"):
        errors["combine"] = 'Use "and" (every condition) or "or" (any condition).'
    for_seconds = _int(data.get("for_seconds", 0), "for_seconds", errors, low=0, high=86_400)
    interval = _int(data.get("interval_seconds", 30), "interval_seconds", errors, low=MIN_INTERVAL, high=MAX_INTERVAL)
    no_data = data.get("no_data", NoData.KEEP)
    if no_data not in NoData.values:
        errors["no_data"] = f"Use one of {', '.join(NoData.values)}."
    labels = _clean_labels(data.get("labels", {}), "labels", errors)
    grouping = data.get("incident_grouping", [])
    if not isinstance(grouping, list) or not all(isinstance(x, str) and x for x in grouping):
        errors["incident_grouping"] = 'A list of label names, e.g. ["service"].'
    watched = ["service"] if any(query.get("service") for query in queries.values()) else []
    variables = rendering.variables(queries, [*group_by, *watched], labels)
    for field in ("title_template", "message_template"):
        try:
            rendering.check(str(data.get(field) or ""), variables)
        except rendering.TemplateInvalid as exc:
            errors[field] = str(exc)
    if errors:
        raise RuleInvalid(errors)
    return {
        "queries": queries,
        "conditions": conditions,
        "combine": combine,
        "group_by": group_by,
        "for_seconds": for_seconds,
        "interval_seconds": interval,
        "no_data": no_data,
        "labels": labels,
        "incident_grouping": grouping,
    }


def clean_descriptive(data: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    """The fields people read (name, texts, runbook link) and the switches, of those present in ``data``."""
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    limits = {"name": 200, "description": 5000, "title_template": 300, "message_template": rendering.MAX_CHARS}
    for field, limit in limits.items():
        if field not in data:
            continue
        value = data[field]
        if not isinstance(value, str) or len(value) > limit:
            errors[field] = f"Text of at most {limit} characters."
        else:
            out[field] = value.strip() if field == "name" else value
    if (creating or "name" in out) and not out.get("name"):
        errors.setdefault("name", "Give the rule a name.")
    if "runbook_url" in data:
        out["runbook_url"] = _runbook(data["runbook_url"], errors)
    if "enabled" in data:
        if not isinstance(data["enabled"], bool):
            errors["enabled"] = "true or false."
        out["enabled"] = data["enabled"] is True
    if "muted_until" in data:
        out["muted_until"] = _moment(data["muted_until"], "muted_until", errors)
    if errors:
        raise RuleInvalid(errors)
    return out


def _runbook(url: Any, errors: dict[str, str]) -> str:
    """ "" or an http(s) link: it becomes an ``href`` in pages and notifications, so no ``javascript:``."""
    if not url:
        return ""
    try:
        if not isinstance(url, str) or len(url) > 500:
            raise ValidationError("not a short text")
        _URL(url)
    except ValidationError:
        errors["runbook_url"] = "An http:// or https:// address of at most 500 characters."
        return ""
    return url


def _moment(value: Any, field: str, errors: dict[str, str]) -> datetime | None:
    moment = parse_datetime(value) if isinstance(value, str) else value
    if value is not None and (not isinstance(moment, datetime) or moment.tzinfo is None):
        errors[field] = "A time with its zone (2026-12-01T08:00:00Z), or null."
        return None
    return moment


def _int(value: Any, field: str, errors: dict[str, str], *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        errors[field] = f"A whole number from {low} to {high}, not {value!r}."
        return low
    if not low <= value <= high:
        errors[field] = f"Must be from {low} to {high}."
    return value


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _clean_labels(value: Any, field: str, errors: dict[str, str]) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        errors[field] = 'An object of text values, e.g. {"team": "payments"}.'
        return {}
    return dict(value)


def _clean_queries(value: Any, errors: dict[str, str], organization_id: int, project_id: int) -> dict[str, Any]:
    if not isinstance(value, dict) or not value:
        errors["queries"] = 'At least one query, e.g. {"a": {"source": "red", "measure": "p95", "service": "api"}}.'
        return {}
    if len(value) > MAX_QUERIES:
        errors["queries"] = f"At most {MAX_QUERIES} queries."
    cleaned = {}
    for name, query in value.items():
        field = f"queries.{name}"
        if not QUERY_NAME.match(str(name)):
            errors[field] = "A query name is a lower-case letter then letters, digits or _ (e.g. a, errors)."
            continue
        if not isinstance(query, dict):
            errors[field] = "A query is an object with a source."
            continue
        cleaned[name] = _clean_query(query, field, errors, organization_id, project_id)
    return cleaned


def _window(query: Mapping[str, Any], field: str, errors: dict[str, str]) -> int:
    window = query.get("window_seconds", 300)
    if isinstance(window, bool) or not isinstance(window, int) or not MIN_WINDOW <= window <= MAX_WINDOW or window % 60:
        errors[f"{field}.window_seconds"] = f"Whole minutes from {MIN_WINDOW} to {MAX_WINDOW} seconds."
    return window if isinstance(window, int) else 300


def _text(query: Mapping[str, Any], key: str, field: str, errors: dict[str, str]) -> str | None:
    value = query.get(key)
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 500:
        errors[f"{field}.{key}"] = "Text of at most 500 characters."
        return None
    return value


def _clean_query(  # noqa: PLR0912 (one branch per source)
    query: Mapping[str, Any], field: str, errors: dict[str, str], organization_id: int, project_id: int
) -> dict[str, Any]:
    source = query.get("source")
    out: dict[str, Any] = {"source": source, "window_seconds": _window(query, field, errors)}
    if source == Source.RED:
        measure = query.get("measure")
        if measure not in RED_MEASURES:
            errors[f"{field}.measure"] = f"Use one of {', '.join(RED_MEASURES)}."
        out.update(measure=measure, service=_text(query, "service", field, errors),
                   operation=_text(query, "operation", field, errors))  # fmt: skip
    elif source == Source.METRIC:
        name = _text(query, "metric", field, errors)
        aggregation = query.get("aggregation")
        filters = _clean_labels(query.get("filters", {}), f"{field}.filters", errors)
        if name is None:
            errors.setdefault(f"{field}.metric", "Name the metric.")
        else:
            found = metric_queries.find_series(organization_id, project_id, name, filters, 1)
            if not found:
                errors[f"{field}.metric"] = f"No metric named {name!r} in this project (with these filters)."
            elif aggregation not in METRIC_AGGREGATIONS:
                errors[f"{field}.aggregation"] = f"Use one of {', '.join(METRIC_AGGREGATIONS)}."
            else:
                reason = metric_queries.valid_aggregations(found[0][1]).get(aggregation, "")
                if reason:
                    errors[f"{field}.aggregation"] = reason
        out.update(metric=name, aggregation=aggregation, filters=filters)
    elif source == Source.LOGS:
        severity = query.get("severity")
        if severity not in (None, "") and severity not in SEVERITY_NAMES:
            errors[f"{field}.severity"] = f"Use one of {', '.join(SEVERITY_NAMES)}."
        out.update(text=_text(query, "text", field, errors), severity=severity or None,
                   service=_text(query, "service", field, errors))  # fmt: skip
    elif source == Source.TRACES:
        status = query.get("status")
        if status not in (None, "", "error", "ok", "unset"):
            errors[f"{field}.status"] = "Use error, ok or unset."
        min_ms = query.get("min_duration_ms")
        if min_ms is not None and (not _number(min_ms) or min_ms < 0):
            errors[f"{field}.min_duration_ms"] = "A number of milliseconds ≥ 0."
        out.update(service=_text(query, "service", field, errors), operation=_text(query, "operation", field, errors),
                   status=status or None, min_duration_ms=min_ms,
                   attributes=_clean_labels(query.get("attributes", {}), f"{field}.attributes", errors))  # fmt: skip
    else:
        errors[f"{field}.source"] = f"Use one of {', '.join(Source.values)}."
    return out


def _clean_group_by(value: Any, queries: Mapping[str, Any], errors: dict[str, str]) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(key, str) and key for key in value):
        errors["group_by"] = 'A list of keys, e.g. ["service"].'
        return []
    for name, query in queries.items():
        source = query["source"]
        if source == Source.METRIC:
            if len(value) > 1:
                errors["group_by"] = f"Query {name} (a metric) can be grouped by one attribute only."
            continue
        allowed = GROUP_KEYS.get(source, ())
        unknown = [key for key in value if key not in allowed]
        if unknown:
            errors["group_by"] = f"Query {name} ({source}) cannot be grouped by {unknown[0]!r}; it can by: " + (
                ", ".join(allowed) or "nothing"
            )
        if source == Source.RED and not query.get("service") and "service" not in value:
            errors[f"queries.{name}.service"] = "Name a service, or group by service."
    return list(value)


def _clean_conditions(value: Any, queries: Mapping[str, Any], errors: dict[str, str]) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        errors["conditions"] = 'At least one condition, e.g. [{"query": "a", "op": ">", "critical": 500}].'
        return []
    if len(value) > MAX_CONDITIONS:
        errors["conditions"] = f"At most {MAX_CONDITIONS} conditions."
    cleaned = []
    for index, condition in enumerate(value):
        field = f"conditions.{index}"
        if not isinstance(condition, dict):
            errors[field] = "A condition is an object with query, op and thresholds."
            continue
        query = condition.get("query")
        if query not in queries:
            errors[f"{field}.query"] = f"Name one of the rule's queries ({', '.join(queries) or 'none defined'})."
        op = condition.get("op")
        if op not in OPERATORS:
            errors[f"{field}.op"] = f"Use one of {' '.join(OPERATORS)}."
        thresholds = {}
        for level in ("critical", "warning", "recovery"):
            raw = condition.get(level)
            if raw is None:
                continue
            if not _number(raw):
                errors[f"{field}.{level}"] = f"A number, not {raw!r}."
                continue
            thresholds[level] = raw
        if "critical" not in thresholds and "warning" not in thresholds and f"{field}.critical" not in errors:
            errors[f"{field}.critical"] = "Give a critical threshold, a warning threshold, or both."
        cleaned.append({"query": query, "op": op, **thresholds})
    return cleaned
