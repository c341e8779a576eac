-- Children whose parent arrived in another transaction at the same moment (neither saw the other):
-- find the parent now, count the edge, forget the pending row. Filled in by apps/tracing/maintenance.py.
WITH resolved AS (
    DELETE FROM tracing_pending_edge pe USING tracing_span p
    WHERE p.organization_id = pe.organization_id AND p.project_id = pe.project_id AND p.trace_id = pe.trace_id
      AND p.span_id = pe.parent_span_id
      AND p.start_time BETWEEN pe.start_time - interval '1 day' AND pe.start_time + interval '1 hour'
    RETURNING pe.organization_id, pe.project_id, pe.start_time, p.service_name AS source, pe.service_name AS target,
              pe.duration_ns, pe.is_error
), edges AS (
    SELECT organization_id, project_id, start_time, source, target, 'service' AS target_kind, duration_ns, is_error
    FROM resolved WHERE source <> target
), {edge_deltas}
SELECT count(*) FROM resolved
