"""The read API of the metric store: series (raw points or aggregated per step) and metric names.

Aggregations read the per-series rollups: the minute rollup for steps under an hour, the hour
rollup for whole-hour steps. Steps are whole minutes, so every rollup bucket falls in one step
bucket (``from``/``to`` are effectively rounded down to the minute, or hour).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from django.db import connection

from apps.metrics.distributions import explicit_percentile
from apps.metrics.rollups import ROLLUP_COLUMNS, Rollup
from apps.otlp.types import MetricKind

MAX_SERIES = 1000
MAX_RAW_POINTS = 10_000
MAX_BUCKETS = 11_000
PERCENTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}
AGGREGATIONS = ("avg", "min", "max", "sum", "count", "rate", *PERCENTILES)
HISTOGRAMS = (MetricKind.HISTOGRAM, MetricKind.EXPONENTIAL_HISTOGRAM)
KIND_NAMES = {1: "gauge", 2: "sum", 3: "histogram", 4: "exponential_histogram", 5: "summary"}

_json = msgspec.json.Decoder()


class QueryError(ValueError):
    """The query cannot be answered as asked; the message says why (answered 400)."""


def _loads(text: str | None) -> Any:
    return _json.decode(text) if text is not None else None


@dataclass(frozen=True)
class SeriesInfo:
    key: bytes
    kind: int
    temporality: int
    monotonic: bool
    unit: str
    description: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    scope_name: str
    scope_version: str

    def describe(self) -> dict[str, Any]:
        return {
            "series_id": self.key.hex(),
            "kind": KIND_NAMES.get(self.kind, str(self.kind)),
            "temporality": self.temporality,
            "monotonic": self.monotonic,
            "unit": self.unit,
            "description": self.description,
            "attributes": self.attributes,
            "resource": self.resource,
            "scope": {"name": self.scope_name, "version": self.scope_version},
        }


def find_series(
    organization_id: int, project_id: int, name: str | None, attributes: Mapping[str, str], limit: int
) -> list[tuple[str, SeriesInfo]]:
    """Series of metric ``name`` (any name when None) whose attributes, or resource attributes, match
    every ``key=value`` (compared as text: ``attr.http.status_code=200`` matches the integer 200)."""
    where = ["s.organization_id = %s", "s.project_id = %s"]
    params: list[Any] = [organization_id, project_id]
    if name is not None:
        where.append("s.name = %s")
        params.append(name)
    for key, value in sorted(attributes.items()):
        where.append("coalesce(s.attributes ->> %s, r.attributes ->> %s) = %s")
        params += [key, key, value]
    params.append(max(1, min(limit, MAX_SERIES)))
    sql = (
        "SELECT s.series_hash, s.name, s.kind, s.temporality, s.monotonic, s.unit, s.description, s.attributes, "  # noqa: S608 (fixed names)
        "r.attributes, s.scope_name, s.scope_version FROM metrics_series s "
        "JOIN otlp_resource r ON r.organization_id = s.organization_id AND r.project_id = s.project_id "
        "AND r.fingerprint = s.resource_fingerprint "
        f"WHERE {' AND '.join(where)} ORDER BY s.name, s.series_hash LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [
            (n, SeriesInfo(bytes(h), k, t, m, u, d, _loads(a), _loads(r), sn, sv))
            for h, n, k, t, m, u, d, a, r, sn, sv in cursor.fetchall()
        ]


def _ns(moment: datetime) -> int:
    return int((moment - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1)) * 1000


def _raw_point(row: tuple[Any, ...], kind: int) -> dict[str, Any]:
    (time_ns, start_ns, flags, value, value_int, count, total, low, high, bucket_counts, bounds, scale, zero_count,
     zero_threshold, pos_offset, pos_counts, neg_offset, neg_counts, quantiles, exemplars) = row  # fmt: skip
    point: dict[str, Any] = {"time_unix_nano": time_ns, "start_time_unix_nano": start_ns, "flags": flags}
    if kind in (MetricKind.GAUGE, MetricKind.SUM):
        point["value"] = value_int if value_int is not None else value
    else:
        point.update(count=count, sum=total)
    if kind in HISTOGRAMS:
        point.update(min=low, max=high)
    if kind == MetricKind.HISTOGRAM:
        point.update(bucket_counts=bucket_counts, explicit_bounds=bounds)
    elif kind == MetricKind.EXPONENTIAL_HISTOGRAM:
        point.update(
            scale=scale,
            zero_count=zero_count,
            zero_threshold=zero_threshold,
            positive={"offset": pos_offset, "bucket_counts": pos_counts},
            negative={"offset": neg_offset, "bucket_counts": neg_counts},
        )
    elif kind == MetricKind.SUMMARY:
        point["quantile_values"] = _loads(quantiles) or []
    point["exemplars"] = _loads(exemplars) or []
    return point


_RAW = """
SELECT time_ns, start_time_ns, flags, value, value_int, count, sum, min, max, bucket_counts, explicit_bounds, scale,
       zero_count, zero_threshold, positive_offset, positive_counts, negative_offset, negative_counts, quantiles,
       exemplars
FROM metrics_point
WHERE organization_id = %s AND project_id = %s AND series_hash = %s AND time >= %s AND time < %s
ORDER BY time
LIMIT %s
"""


def _raw_points(
    organization_id: int, project_id: int, info: SeriesInfo, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(_RAW, [organization_id, project_id, info.key, start, end, MAX_RAW_POINTS])
        return [_raw_point(row, info.kind) for row in cursor.fetchall()]


def _rollups(
    organization_id: int, project_id: int, keys: list[bytes], start: datetime, end: datetime, *, hourly: bool
) -> dict[bytes, list[tuple[datetime, Rollup]]]:
    table = "metrics_rollup_hour" if hourly else "metrics_rollup_minute"
    sql = (
        f"SELECT series_hash, bucket, {', '.join(ROLLUP_COLUMNS)} FROM {table} "  # noqa: S608 (fixed names)
        "WHERE organization_id = %s AND project_id = %s AND series_hash = ANY(%s) AND bucket >= %s AND bucket < %s "
        "ORDER BY series_hash, bucket"
    )
    out: dict[bytes, list[tuple[datetime, Rollup]]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [organization_id, project_id, keys, start, end])
        for row in cursor.fetchall():
            out.setdefault(bytes(row[0]), []).append((row[1], Rollup(*row[2:])))
    return out


def _value(info: SeriesInfo, r: Rollup, agg: str, step_seconds: int) -> float | int | None:  # noqa: PLR0911
    histogram = info.kind in HISTOGRAMS or info.kind == MetricKind.SUMMARY
    if agg in PERCENTILES:
        q = PERCENTILES[agg]
        if info.kind == MetricKind.HISTOGRAM and r.bucket_counts is not None:
            return explicit_percentile(r.explicit_bounds or [], r.bucket_counts, q, r.hist_min, r.hist_max)
        exp = r.exp()
        return exp.percentile(q) if exp is not None else None
    if agg == "rate":
        return None if r.increase is None else r.increase / step_seconds
    if agg == "count":
        return r.hist_count if histogram else r.points
    if agg == "sum":
        return r.hist_sum if histogram else r.value_sum
    if agg == "min":
        return r.hist_min if histogram else r.value_min
    if agg == "max":
        return r.hist_max if histogram else r.value_max
    # avg
    if histogram:
        return r.hist_sum / r.hist_count if r.hist_count and r.hist_sum is not None else None
    return r.value_sum / r.points if r.points and r.value_sum is not None else None


def _check(info: SeriesInfo, name: str, agg: str) -> None:
    if agg == "rate" and not (info.kind == MetricKind.SUM and info.monotonic):
        raise QueryError(f"agg=rate applies to monotonic sums (counters); {name} is a {KIND_NAMES[info.kind]}.")
    if agg in PERCENTILES and info.kind not in HISTOGRAMS:
        raise QueryError(f"agg={agg} needs a histogram; {name} is a {KIND_NAMES[info.kind]}.")


def series(
    organization_id: int,
    project_id: int,
    name: str | None,
    *,
    attributes: Mapping[str, str],
    start: datetime,
    end: datetime,
    step_seconds: int = 60,
    agg: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The matching series, each with its points.

    ``agg`` None: the raw points, every field as stored (at most ``MAX_RAW_POINTS`` per series).
    Otherwise one value per step bucket that has data: avg/min/max/sum/count of the values (of the
    observations for histograms), ``rate`` (per-second increase of a monotonic sum, resets handled)
    or p50/p90/p95/p99 of a histogram (merged buckets, linear interpolation within a bucket).
    Without ``name`` only the series are listed (no points).
    """
    if agg is not None and agg not in AGGREGATIONS:
        raise QueryError(f"agg must be one of {', '.join(AGGREGATIONS)}.")
    if step_seconds < 60 or step_seconds % 60:
        raise QueryError("step must be a whole number of minutes (60, 120, ... seconds).")
    if end <= start:
        raise QueryError("from must be before to.")
    if agg is not None and (end - start).total_seconds() / step_seconds > MAX_BUCKETS:
        raise QueryError(f"from..to holds more than {MAX_BUCKETS} steps; use a larger step.")
    found = find_series(organization_id, project_id, name, attributes, limit)
    out = []
    if name is None:
        return [{"name": n, **info.describe()} for n, info in found]
    for _, info in found:
        if agg is not None:
            _check(info, name, agg)
    hourly = step_seconds % 3600 == 0
    rolled = _rollups(organization_id, project_id, [i.key for _, i in found], start, end, hourly=hourly) if agg else {}
    step_ns = step_seconds * 10**9
    for n, info in found:
        entry: dict[str, Any] = {"name": n, **info.describe()}
        if agg is None:
            entry["points"] = _raw_points(organization_id, project_id, info, start, end)
        else:
            steps: dict[int, Rollup] = {}
            for bucket, rollup in rolled.get(info.key, []):
                slot = _ns(bucket) // step_ns * step_ns
                steps.setdefault(slot, Rollup()).merge(rollup)
            entry["agg"] = agg
            entry["step_seconds"] = step_seconds
            entry["points"] = [
                {"time_unix_nano": slot, "value": _value(info, steps[slot], agg, step_seconds)}
                for slot in sorted(steps)
            ]
        out.append(entry)
    return out


def metric_names(organization_id: int, project_id: int, prefix: str = "", limit: int = 1000) -> list[dict[str, Any]]:
    """Distinct metric names (with kind, unit and series count), alphabetically."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, kind, unit, max(description), count(*) FROM metrics_series "
            "WHERE organization_id = %s AND project_id = %s AND name LIKE %s "
            "GROUP BY name, kind, unit ORDER BY name, kind, unit LIMIT %s",
            [organization_id, project_id, escaped + "%", max(1, min(limit, MAX_SERIES))],
        )
        return [
            {"name": n, "kind": KIND_NAMES.get(k, str(k)), "unit": u, "description": d, "series": c}
            for n, k, u, d, c in cursor.fetchall()
        ]


MAX_GROUPS = 50


def valid_aggregations(info: SeriesInfo) -> dict[str, str]:
    """Every aggregation with "" when ``series`` accepts it for this series' kind, else the reason it does not."""
    kind = KIND_NAMES.get(info.kind, str(info.kind))
    counter = info.kind == MetricKind.SUM and info.monotonic
    out = {}
    for agg in AGGREGATIONS:
        if agg == "rate" and not counter:
            out[agg] = f"rate applies to monotonic sums (counters); this metric is a {kind}."
        elif agg in PERCENTILES and info.kind not in HISTOGRAMS:
            out[agg] = f"percentiles need a histogram; this metric is a {kind}."
        else:
            out[agg] = ""
    return out


def default_aggregation(info: SeriesInfo) -> str:
    """What a chart of this kind shows unless told: a counter's rate, a histogram's p95, else the average."""
    if info.kind == MetricKind.SUM and info.monotonic:
        return "rate"
    if info.kind in HISTOGRAMS:
        return "p95"
    return "avg"


def _text(value: Any) -> str:
    """An attribute value as ``->>`` gives it (what ``attr.<key>=<value>`` filters compare with)."""
    if isinstance(value, str):
        return value
    return msgspec.json.encode(value).decode()


def grouped_series(
    organization_id: int,
    project_id: int,
    name: str,
    *,
    attributes: Mapping[str, str],
    start: datetime,
    end: datetime,
    step_seconds: int,
    agg: str,
    group_by: str | None = None,
    origin: datetime | None = None,
) -> dict[str, Any]:
    """One line per value of attribute (or resource attribute) ``group_by`` over the matching series of ``name``,
    or one line for all of them without ``group_by``: the series' rollups are merged per step, then ``agg`` is
    taken as in ``series`` (``rate`` of a group is the sum of its counters' rates, percentiles come from the
    merged buckets). Series without the key form the group whose ``value`` is None.

    Returns ``{"groups": [{"value", "service", "series_count", "points"}], "series_count", "truncated"}``;
    ``service`` is the groups' common ``service.name``, if any. At most ``MAX_SERIES`` series are read and
    ``MAX_GROUPS`` groups returned (``truncated`` says so). Steps are multiples of the step since the Unix epoch,
    or since ``origin`` when given (an alert rule's window is one step that starts at its first minute)."""
    if agg not in AGGREGATIONS:
        raise QueryError(f"agg must be one of {', '.join(AGGREGATIONS)}.")
    if step_seconds < 60 or step_seconds % 60:
        raise QueryError("step must be a whole number of minutes (60, 120, ... seconds).")
    if end <= start:
        raise QueryError("from must be before to.")
    if (end - start).total_seconds() / step_seconds > MAX_BUCKETS:
        raise QueryError(f"from..to holds more than {MAX_BUCKETS} steps; use a larger step.")
    found = find_series(organization_id, project_id, name, attributes, MAX_SERIES)
    if len({(info.kind, info.monotonic) for _, info in found}) > 1:
        raise QueryError(f"{name} has series of several kinds; filter by attributes to one kind.")
    for _, info in found:
        _check(info, name, agg)
    hourly = step_seconds % 3600 == 0
    rolled = _rollups(organization_id, project_id, [i.key for _, i in found], start, end, hourly=hourly)
    step_ns = step_seconds * 10**9
    zero = _ns(origin) % step_ns if origin is not None else 0
    groups: dict[str | None, dict[str, Any]] = {}
    for _, info in found:
        value = None
        if group_by is not None:
            raw = info.attributes.get(group_by, info.resource.get(group_by))
            value = None if raw is None else _text(raw)
        group = groups.setdefault(value, {"infos": [], "steps": {}})
        group["infos"].append(info)
        for bucket, rollup in rolled.get(info.key, []):
            slot = (_ns(bucket) - zero) // step_ns * step_ns + zero
            group["steps"].setdefault(slot, Rollup()).merge(rollup)
    ordered = sorted(groups.items(), key=lambda item: (item[0] is None, item[0] or ""))
    out = []
    for value, group in ordered[:MAX_GROUPS]:
        infos: list[SeriesInfo] = group["infos"]
        services = {i.resource.get("service.name") for i in infos}
        steps: dict[int, Rollup] = group["steps"]
        out.append(
            {
                "value": value,
                "service": next(iter(services)) if len(services) == 1 else None,
                "series_count": len(infos),
                "points": [
                    {"time_unix_nano": slot, "value": _value(infos[0], steps[slot], agg, step_seconds)}
                    for slot in sorted(steps)
                ],
            }
        )
    return {
        "groups": out,
        "series_count": len(found),
        "truncated": len(found) >= MAX_SERIES or len(ordered) > MAX_GROUPS,
    }
