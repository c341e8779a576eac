"""A rule's queries measured over the stores, through each store's own query functions.

A window of ``window_seconds`` ending at ``at`` covers the whole minutes before ``at``'s minute and that
minute itself (the rollups' resolution), so data that arrived seconds ago counts: detection does not wait
for the minute to end. Rates divide by the time the window really covers (up to ``at``), not its length.

``series`` measures every window-long step of a longer range (the rule preview); ``measure`` is one step.
Both return values per group: a group is a tuple of ``(key, value)`` pairs, ``()`` without ``group_by``.
A value is None when there is no data to compute it from (no requests for a latency, no metric points).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from apps.alerting.models import Source
from apps.logs import queries as log_queries
from apps.metrics import queries as metric_queries
from apps.tracing import queries as trace_queries

Group = tuple[tuple[str, str], ...]
Series = dict[Group, list[tuple[datetime, float | None]]]
MAX_TRACES_COUNTED = 10_000  # per step; a trace count query says "at least" beyond it


class MeasureError(ValueError):
    """The query cannot be run any more (e.g. the metric changed kind); the rule's state becomes error."""


@dataclass(frozen=True)
class Window:
    start: datetime  # the first minute
    end: datetime  # the end of at's minute
    at: datetime

    @classmethod
    def ending(cls, at: datetime, seconds: int) -> Window:
        minute_end = at.replace(second=0, microsecond=0) + timedelta(minutes=1)
        return cls(start=minute_end - timedelta(seconds=seconds), end=minute_end, at=at)

    def elapsed(self, step_start: datetime, step: int) -> float:
        """Seconds of the step up to ``at``: the divisor of a rate."""
        return max(1.0, min(float(step), (self.at - step_start).total_seconds()))


def measure(query: Mapping[str, Any], organization_id: int, project_id: int, group_by: Sequence[str],
            at: datetime) -> dict[Group, float | None]:  # fmt: skip
    """Each group's value over the window ending at ``at``."""
    window = Window.ending(at, query["window_seconds"])
    found = series(query, organization_id, project_id, group_by, window)
    return {group: next((value for moment, value in points if moment == window.start), None)
            for group, points in found.items()}  # fmt: skip


def series(query: Mapping[str, Any], organization_id: int, project_id: int, group_by: Sequence[str],
           window: Window) -> Series:  # fmt: skip
    """Values per group for each ``window_seconds`` step from ``window.start`` to ``window.end``."""
    source = query["source"]
    try:
        if source == Source.RED:
            return _red(query, organization_id, project_id, group_by, window)
        if source == Source.METRIC:
            return _metric(query, organization_id, project_id, group_by, window)
        if source == Source.LOGS:
            return _logs(query, organization_id, project_id, group_by, window)
        if source == Source.TRACES:
            return _traces(query, organization_id, project_id, group_by, window)
    except (metric_queries.QueryError, ValueError) as exc:
        raise MeasureError(str(exc)) from exc
    raise MeasureError(f"unknown source {source!r}")


def _steps(window: Window, step: int) -> list[datetime]:
    count = int((window.end - window.start).total_seconds()) // step
    return [window.start + timedelta(seconds=step * i) for i in range(count)]


def _red_value(measure: str, stats: Mapping[str, Any], elapsed: float) -> float | None:
    count = stats["request_count"]
    if measure == "request_rate":
        return count / elapsed
    if measure == "request_count":
        return float(count)
    if measure == "error_count":
        return float(stats["error_count"])
    if not count:
        return None  # no requests: no error ratio, no latency
    if measure == "error_rate":
        return stats["error_count"] / count
    return stats["avg_ms" if measure == "avg" else f"{measure}_ms"]


def _red(query: Mapping[str, Any], org: int, project: int, group_by: Sequence[str], window: Window) -> Series:
    step = query["window_seconds"]
    steps = _steps(window, step)
    measure, service, operation = query["measure"], query.get("service"), query.get("operation")
    if "operation" in group_by or operation:
        found = trace_queries.operation_series(org, project, window.start, window.end, step=step, service=service)
        series = {(name, op): points for (name, op), points in found.items() if not operation or op == operation}
    else:
        found_services = trace_queries.service_series(org, project, window.start, window.end, step=step,
                                                      service=service)  # fmt: skip
        series = {(name, ""): points for name, points in found_services.items()}
    out: Series = {}
    for (name, op), points in series.items():
        stats = {point["time"]: point for point in points}
        out[_group(group_by, service=name, operation=op)] = [
            (moment, _red_value(measure, stats[moment], window.elapsed(moment, step)) if moment in stats else None)
            for moment in steps
        ]
    return out


def _metric(query: Mapping[str, Any], org: int, project: int, group_by: Sequence[str], window: Window) -> Series:
    step = query["window_seconds"]
    key = group_by[0] if group_by else None
    found = metric_queries.grouped_series(
        org, project, query["metric"], attributes=query.get("filters") or {}, start=window.start, end=window.end,
        step_seconds=step, agg=query["aggregation"], group_by=key, origin=window.start,
    )  # fmt: skip
    out: Series = {}
    for group in found["groups"]:
        if key is not None and group["value"] is None:
            continue  # series without the key: nothing to name the alert by
        values = {point["time_unix_nano"]: point["value"] for point in group["points"]}
        elapsed_fix = query["aggregation"] == "rate"
        out[_group(group_by, **({key: group["value"]} if key else {}))] = [
            (moment, _rate_fix(values.get(_ns(moment)), step, window.elapsed(moment, step), elapsed_fix))
            for moment in _steps(window, step)
        ]
    return out


def _rate_fix(value: float | None, step: int, elapsed: float, fix: bool) -> float | None:
    """A rate the metric store divided by the whole step, divided by the time the step really covers."""
    return value * step / elapsed if fix and value is not None else value


def _logs(query: Mapping[str, Any], org: int, project: int, group_by: Sequence[str], window: Window) -> Series:
    step = query["window_seconds"]
    severity = log_queries.SEVERITY_NAMES.get(query["severity"]) if query.get("severity") else None
    services: list[str | None] = [query.get("service")]
    if "service" in group_by and not query.get("service"):
        services = list(log_queries.log_services(org, project, window.start, window.end))
    out: Series = {}
    for service in services:
        counts: dict[datetime, int] = {}
        rows = log_queries.volume(org, project, start=window.start, end=window.end, step_seconds=60,
                                  q=query.get("text"), severity_min=severity, service=service)  # fmt: skip
        for row in rows:
            slot = _slot(row["time"], window.start, step)
            counts[slot] = counts.get(slot, 0) + row["total"]
        out[_group(group_by, service=service or "")] = [
            (moment, float(counts.get(moment, 0))) for moment in _steps(window, step)
        ]
    return out


def _traces(query: Mapping[str, Any], org: int, project: int, group_by: Sequence[str], window: Window) -> Series:
    step = query["window_seconds"]
    min_ms = query.get("min_duration_ms")
    f = trace_queries.TraceFilter(
        start=window.start, end=window.end, service=query.get("service"), operation=query.get("operation"),
        min_duration_ns=int(min_ms * 1e6) if min_ms is not None else None, status=query.get("status"),
        attributes=tuple(sorted((query.get("attributes") or {}).items())),
    )  # fmt: skip
    services: list[str | None] = [query.get("service")]
    if "service" in group_by and not query.get("service"):
        services = [row["service"] for row in trace_queries.services(org, project, window.start, window.end)]
    out: Series = {}
    for service in services:
        counts: dict[datetime, int] = {}
        points = trace_queries.trace_points(org, project, _with_service(f, service), limit=MAX_TRACES_COUNTED)
        for point in points:
            moment = datetime.fromtimestamp(point["start_time_unix_nano"] / 1e9, tz=window.start.tzinfo)
            slot = _slot(moment, window.start, step)
            counts[slot] = counts.get(slot, 0) + 1
        out[_group(group_by, service=service or "")] = [
            (moment, float(counts.get(moment, 0))) for moment in _steps(window, step)
        ]
    return out


def _with_service(f: trace_queries.TraceFilter, service: str | None) -> trace_queries.TraceFilter:
    return trace_queries.TraceFilter(**{**f.__dict__, "service": service})


def _slot(moment: datetime, start: datetime, step: int) -> datetime:
    return start + timedelta(seconds=(moment - start).total_seconds() // step * step)


def _ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 10**9


def _group(group_by: Sequence[str], **values: Any) -> Group:
    return tuple((key, str(values.get(key, ""))) for key in group_by)
