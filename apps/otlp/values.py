"""JSON-ready attribute values and the conversions both decoders share."""

from __future__ import annotations

import base64
import math

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
