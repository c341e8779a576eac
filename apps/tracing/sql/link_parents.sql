-- The service-map edges a batch cannot see by itself (apps/tracing/writers.py), in one round trip:
-- 1. new spans whose parent is not in the batch ("orphans"): the parent's service if it is already stored,
--    else the child waits in tracing_pending_edge (children may arrive before their parent);
-- 2. children waiting for a parent that is in this batch: resolved now, their pending row deleted.
-- Returns one row per call found: (caller service or NULL, callee trace id, callee's parent span id, callee
-- service, start_ns, duration_ns, is_error); a NULL caller is a span of this batch the writer looks up.
-- Span ids travel as one bytea of fixed-size records: psycopg dumps a bytea[] element by element in Python
-- (~15 µs each, measured), a single bytea for free.
--   %(orphan_ids)s: per orphan trace_id (16) + parent_span_id (8) + span_id (8), with the same order in
--   %(services)s, %(starts)s, %(durations)s, %(errors)s; %(new_ids)s: per new span trace_id (16) + span_id (8).
WITH orphans AS (
    SELECT substring(%(orphan_ids)s::bytea FROM (n::integer - 1) * 32 + 1 FOR 16) AS trace_id,
           substring(%(orphan_ids)s::bytea FROM (n::integer - 1) * 32 + 17 FOR 8) AS parent_span_id,
           substring(%(orphan_ids)s::bytea FROM (n::integer - 1) * 32 + 25 FOR 8) AS span_id,
           service_name, start_ns, duration_ns, is_error,
           timestamptz 'epoch' + (start_ns / 1000) * interval '1 microsecond' AS start_time
    FROM unnest(%(services)s::text[], %(starts)s::bigint[], %(durations)s::bigint[], %(errors)s::boolean[])
         WITH ORDINALITY AS o(service_name, start_ns, duration_ns, is_error, n)
), found AS (
    SELECT o.*, (
        SELECT t.service_name FROM tracing_span t
        WHERE t.organization_id = %(org)s AND t.project_id = %(project)s AND t.trace_id = o.trace_id
          AND t.span_id = o.parent_span_id
          AND t.start_time BETWEEN o.start_time - interval '1 day' AND o.start_time + interval '1 hour'
        LIMIT 1) AS parent_service
    FROM orphans o
), pending AS (
    INSERT INTO tracing_pending_edge
    SELECT %(org)s, %(project)s, trace_id, parent_span_id, span_id, service_name, start_time, duration_ns, is_error
    FROM found WHERE parent_service IS NULL ORDER BY trace_id, parent_span_id, span_id
    ON CONFLICT DO NOTHING
), new_spans AS (
    SELECT substring(%(new_ids)s::bytea FROM i * 24 + 1 FOR 16) AS trace_id,
           substring(%(new_ids)s::bytea FROM i * 24 + 17 FOR 8) AS span_id
    FROM generate_series(0, length(%(new_ids)s::bytea) / 24 - 1) AS i
), resolved AS (
    DELETE FROM tracing_pending_edge pe USING new_spans s
    WHERE pe.organization_id = %(org)s AND pe.project_id = %(project)s AND pe.trace_id = s.trace_id
      AND pe.parent_span_id = s.span_id
    RETURNING pe.trace_id, pe.parent_span_id, pe.service_name, pe.start_time, pe.duration_ns, pe.is_error
)
SELECT parent_service, trace_id, parent_span_id, service_name, start_ns, duration_ns, is_error
FROM found WHERE parent_service IS NOT NULL
UNION ALL
SELECT NULL, trace_id, parent_span_id, service_name,
       ((extract(epoch FROM start_time) * 1000000)::bigint * 1000), duration_ns, is_error
FROM resolved
