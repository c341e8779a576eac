# The decoded span (apps/otlp/span.pyx), for compiled modules that make or read spans by field
# (apps/ingest/fast_traces.pyx, apps/tracing/span_batch.pyx, apps/ingest/scrub_screen.pyx).

cdef class Span:
    cdef public object resource, scope, trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns
    cdef public object attributes, status_code, status_message, trace_state, flags, events, links
    cdef public object dropped_attributes_count, dropped_events_count, dropped_links_count
    # Set by the compiled decoder, true while ``attributes`` is the map it made (``attributes_json``,
    # ``attributes_clean`` below): its JSON (None if not made) and whether the request's attribute screen found
    # every value clean (apps/ingest/scrub_screen.pyx). Whoever changes attributes assigns a new map (limits and
    # the scrubber do), so neither can outlive a change. Not part of the span's value (equality, pickling).
    cdef readonly object decoded_attributes
    cdef readonly bytes decoded_json
    cdef readonly bint decoded_clean

    cdef tuple _values(self)


cdef inline bytes attributes_json(Span span):
    """The JSON of ``span.attributes`` made by the decoder, or None (then encode them)."""
    return span.decoded_json if span.attributes is span.decoded_attributes else None


cdef inline bint attributes_clean(Span span):
    """Whether the decoder's attribute screen found every value of ``span.attributes`` clean."""
    return span.decoded_clean and span.attributes is span.decoded_attributes


cdef Span new_span(object resource, object scope, object trace_id, object span_id, object parent_span_id,
                   object name, object kind, object start_ns, object end_ns, object attributes, object status_code,
                   object status_message, object trace_state, object flags, list events, list links,
                   object dropped_attributes_count, object dropped_events_count, object dropped_links_count)
