"""JSON-ready attribute values and the conversions both decoders share."""

from __future__ import annotations

import base64
from typing import Any

BYTES_MARKER = "$bytes"


def bytes_value(raw: bytes) -> dict[str, str]:
    """OTLP bytes values are kept as ``{"$bytes": base64}`` so they stay distinct from strings."""
    return {BYTES_MARKER: base64.b64encode(raw).decode("ascii")}


def hex_id(raw: bytes | None) -> str | None:
    return raw.hex() if raw else None


def is_bytes_value(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and BYTES_MARKER in value
