-- Children whose parent arrived in another transaction at the same moment (neither saw the other):
-- find the parent now and forget the pending row; apps/tracing/maintenance.py appends the edge deltas.
DELETE FROM tracing_pending_edge pe USING tracing_span p
WHERE p.organization_id = pe.organization_id AND p.project_id = pe.project_id AND p.trace_id = pe.trace_id
  AND p.span_id = pe.parent_span_id
  AND p.start_time BETWEEN pe.start_time - interval '1 day' AND pe.start_time + interval '1 hour'
RETURNING pe.organization_id, pe.project_id, p.service_name, pe.service_name,
          (extract(epoch FROM pe.start_time) * 1000000)::bigint * 1000, pe.duration_ns, pe.is_error
