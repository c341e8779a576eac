# cython: language_level=3
"""The decoded span (``apps.otlp.types.Span``) as a compiled type.

Why not a dataclass like the other decoded types: every span of every request is made once by the decoder and
read field by field by the scrubber, the row pass and the error and sampling steps, and on a dataclass each of
those reads is an attribute lookup by name (``__Pyx_PyObject_GetAttrStr``: 4.6 % of the server's profile at
saturation, docs/benchmarks.md) and each span a call of the generated ``__init__``. Compiled modules that
``cimport`` this type read its fields at a fixed offset and make spans with ``new_span``; to Python code it
behaves as the dataclass did: the same fields, constructor, defaults, equality and ``repr``.

The fields hold Python objects, as before: values from the wire are not narrowed to C integers here, so a value
no column can hold still reaches the COPY encoder, which refuses it by name (apps/otlp/binary_copy.pyx).
"""

_FIELDS = (
    "resource", "scope", "trace_id", "span_id", "parent_span_id", "name", "kind", "start_ns", "end_ns", "attributes",
    "status_code", "status_message", "trace_state", "flags", "events", "links", "dropped_attributes_count",
    "dropped_events_count", "dropped_links_count",
)  # fmt: skip


cdef class Span:
    """One OTLP span: ids are raw bytes, times Unix nanoseconds, attributes JSON-ready (apps/otlp/types.py)."""

    def __init__(self, resource, scope, trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, attributes,
                 status_code=0, status_message="", trace_state="", flags=0, events=None, links=None,
                 dropped_attributes_count=0, dropped_events_count=0, dropped_links_count=0):
        _fill(self, resource, scope, trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, attributes,
              status_code, status_message, trace_state, flags, [] if events is None else events,
              [] if links is None else links, dropped_attributes_count, dropped_events_count, dropped_links_count)

    cdef tuple _values(self):
        return (
            self.resource, self.scope, self.trace_id, self.span_id, self.parent_span_id, self.name, self.kind,
            self.start_ns, self.end_ns, self.attributes, self.status_code, self.status_message, self.trace_state,
            self.flags, self.events, self.links, self.dropped_attributes_count, self.dropped_events_count,
            self.dropped_links_count,
        )

    def __eq__(self, other):
        if type(other) is not Span:
            return NotImplemented
        return self._values() == (<Span>other)._values()

    __hash__ = None  # mutable, compared by value: unhashable, as the dataclass was

    def __repr__(self):
        fields = ", ".join(f"{name}={value!r}" for name, value in zip(_FIELDS, self._values()))
        return f"Span({fields})"

    def __reduce__(self):
        return Span, self._values()


cdef Span new_span(object resource, object scope, object trace_id, object span_id, object parent_span_id,
                   object name, object kind, object start_ns, object end_ns, object attributes, object status_code,
                   object status_message, object trace_state, object flags, list events, list links,
                   object dropped_attributes_count, object dropped_events_count, object dropped_links_count):
    """A span with every field given, without ``__init__``'s argument parsing: the decoder's constructor."""
    cdef Span span = Span.__new__(Span)
    _fill(span, resource, scope, trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, attributes,
          status_code, status_message, trace_state, flags, events, links, dropped_attributes_count,
          dropped_events_count, dropped_links_count)
    return span


cdef inline void _fill(Span span, object resource, object scope, object trace_id, object span_id,
                       object parent_span_id, object name, object kind, object start_ns, object end_ns,
                       object attributes, object status_code, object status_message, object trace_state,
                       object flags, list events, list links, object dropped_attributes_count,
                       object dropped_events_count, object dropped_links_count):
    span.resource = resource
    span.scope = scope
    span.trace_id = trace_id
    span.span_id = span_id
    span.parent_span_id = parent_span_id
    span.name = name
    span.kind = kind
    span.start_ns = start_ns
    span.end_ns = end_ns
    span.attributes = attributes
    span.status_code = status_code
    span.status_message = status_message
    span.trace_state = trace_state
    span.flags = flags
    span.events = events
    span.links = links
    span.dropped_attributes_count = dropped_attributes_count
    span.dropped_events_count = dropped_events_count
    span.dropped_links_count = dropped_links_count
