"""Attribute limits as the OpenTelemetry SDK defines them: too many attributes are dropped and counted,
too-long strings are truncated; nothing is rejected for it.

Also where text is made storable: PostgreSQL text and jsonb cannot hold NUL (U+0000), which OTLP
strings may contain, so NUL becomes U+FFFD in every key, value and name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apps.otlp.types import Attributes, Decoded, Resource, Scope


@dataclass(frozen=True)
class AttributeLimits:
    count: int = 128
    value_length: int | None = None  # characters; None keeps strings whole

    def apply(self, attributes: Attributes) -> tuple[Attributes, int]:
        """The attributes within the limits and how many were dropped."""
        dropped = 0
        if len(attributes) > self.count:
            dropped = len(attributes) - self.count
            attributes = dict(list(attributes.items())[: self.count])
        if self._within(attributes):
            return attributes, dropped
        return {clean(key): self._truncate(value) for key, value in attributes.items()}, dropped

    def _within(self, attributes: Attributes) -> bool:
        """True when no key or value needs cleaning or truncating: the common case, checked cheaply."""
        limit = self.value_length
        for key, value in attributes.items():
            if "\x00" in key:
                return False
            kind = type(value)
            if kind is str:
                if "\x00" in value or (limit is not None and len(value) > limit):
                    return False
            elif kind is list or kind is dict:
                return False
        return True

    def _truncate(self, value: Any) -> Any:
        limit = self.value_length
        if isinstance(value, str):
            return clean(value[:limit] if limit is not None and len(value) > limit else value)
        if isinstance(value, list):
            return [self._truncate(item) for item in value]
        if isinstance(value, dict):
            return {clean(key): self._truncate(item) for key, item in value.items()}
        return value


def clean(text: str) -> str:
    """``text`` without NUL characters (PostgreSQL refuses them); the check is a fast C scan."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def limit_decoded(decoded: Decoded, limits: AttributeLimits) -> None:
    """Apply the limits to every record in place (resources and scopes once each: they are shared)."""
    hint = decoded.limits_hint
    if hint is not None and hint[1] <= limits.count and (limits.value_length is None or hint[0] <= limits.value_length):
        return  # nothing to drop, truncate or clean (UTF-8 bytes >= characters, so the length test is safe)
    resources: dict[int, Resource] = {}
    scopes: dict[int, Scope] = {}

    def scope(original: Scope) -> Scope:
        found = scopes.get(id(original))
        if found is None:
            attributes, dropped = limits.apply(original.attributes)
            found = Scope(
                clean(original.name),
                clean(original.version),
                attributes,
                original.dropped_attributes_count + dropped,
                original.schema_url,
            )
            scopes[id(original)] = found
        return found

    def resource(original: Resource) -> Resource:
        found = resources.get(id(original))
        if found is None:
            attributes, dropped = limits.apply(original.attributes)
            found = (
                original
                if not dropped and attributes == original.attributes
                else Resource(attributes, original.dropped_attributes_count + dropped, original.schema_url)
            )
            resources[id(original)] = found
        return found

    for span in decoded.spans:
        span.resource = resource(span.resource)
        span.name, span.status_message = clean(span.name), clean(span.status_message)
        span.trace_state = clean(span.trace_state)
        span.scope = scope(span.scope)
        span.attributes, dropped = limits.apply(span.attributes)
        span.dropped_attributes_count += dropped
        for event in span.events:
            event.name = clean(event.name)
            event.attributes, dropped = limits.apply(event.attributes)
            event.dropped_attributes_count += dropped
        for link in span.links:
            link.attributes, dropped = limits.apply(link.attributes)
            link.dropped_attributes_count += dropped
    for log in decoded.logs:
        log.resource = resource(log.resource)
        log.scope = scope(log.scope)
        log.severity_text, log.event_name = clean(log.severity_text), clean(log.event_name)
        log.body = limits._truncate(log.body)
        log.attributes, dropped = limits.apply(log.attributes)
        log.dropped_attributes_count += dropped
    for point in decoded.metrics:
        point.resource = resource(point.resource)
        point.scope = scope(point.scope)
        point.name, point.description, point.unit = clean(point.name), clean(point.description), clean(point.unit)
        point.attributes, _ = limits.apply(point.attributes)
