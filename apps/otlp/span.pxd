# The decoded span (apps/otlp/span.pyx), for compiled modules that make or read spans by field
# (apps/ingest/fast_traces.pyx, apps/tracing/span_batch.pyx, apps/ingest/scrub_screen.pyx).

cdef class Span:
    cdef public object resource, scope, trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns
    cdef public object attributes, status_code, status_message, trace_state, flags, events, links
    cdef public object dropped_attributes_count, dropped_events_count, dropped_links_count

    cdef tuple _values(self)


cdef Span new_span(object resource, object scope, object trace_id, object span_id, object parent_span_id,
                   object name, object kind, object start_ns, object end_ns, object attributes, object status_code,
                   object status_message, object trace_state, object flags, list events, list links,
                   object dropped_attributes_count, object dropped_events_count, object dropped_links_count)
