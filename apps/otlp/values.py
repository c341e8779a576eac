"""JSON-ready attribute values and the conversions both decoders share."""

from __future__ import annotations

import base64
import math
from datetime import UTC, datetime, timedelta

BYTES_MARKER = "$bytes"
DOUBLE_MARKER = "$double"


def bytes_value(raw: bytes) -> dict[str, str]:
    """OTLP bytes values are kept as ``{"$bytes": base64}`` so they stay distinct from strings."""
    return {BYTES_MARKER: base64.b64encode(raw).decode("ascii")}


def double_value(value: float) -> float | dict[str, str]:
    """Finite doubles as they are; NaN and the infinities, which JSON cannot hold, as ``{"$double": "NaN"}``."""
    if math.isfinite(value):
        return value
    return {DOUBLE_MARKER: "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")}


def hex_id(raw: bytes | None) -> str | None:
    return raw.hex() if raw else None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NS_PER_MINUTE = 60_000_000_000


def time_of_ns(ns: int) -> datetime:
    """A telemetry timestamp (Unix nanoseconds) as stored in a ``timestamptz`` column: truncated to the
    microsecond, exactly (no float rounding), so the day partition and the minute of a rollup follow from
    ``ns`` by integer division alike in Python and SQL."""
    return _EPOCH + timedelta(microseconds=ns // 1000)
