"""Attribute limits as the OpenTelemetry SDK defines them: too many attributes are dropped and counted,
too-long strings are truncated; nothing is rejected for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apps.otlp.types import Attributes, Decoded, Resource


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
        if self.value_length is not None:
            attributes = {key: self._truncate(value) for key, value in attributes.items()}
        return attributes, dropped

    def _truncate(self, value: Any) -> Any:
        limit = self.value_length
        if isinstance(value, str):
            return value[:limit] if limit is not None and len(value) > limit else value
        if isinstance(value, list):
            return [self._truncate(item) for item in value]
        return value


def limit_decoded(decoded: Decoded, limits: AttributeLimits) -> None:
    """Apply the limits to every record in place (resources once each: they are shared)."""
    resources: dict[int, Resource] = {}

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
        span.attributes, dropped = limits.apply(span.attributes)
        span.dropped_attributes_count += dropped
        for event in span.events:
            event.attributes, dropped = limits.apply(event.attributes)
            event.dropped_attributes_count += dropped
        for link in span.links:
            link.attributes, dropped = limits.apply(link.attributes)
            link.dropped_attributes_count += dropped
    for log in decoded.logs:
        log.resource = resource(log.resource)
        log.attributes, dropped = limits.apply(log.attributes)
        log.dropped_attributes_count += dropped
    for point in decoded.metrics:
        point.resource = resource(point.resource)
        point.attributes, _ = limits.apply(point.attributes)
