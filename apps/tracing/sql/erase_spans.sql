-- GDPR deletion, one batch (apps/tracing/erasure.py): delete the spans matching {match} of up to %(limit)s
-- traces (whole traces, so a deleted parent is still visible to its deleted children in this statement's
-- snapshot), drop their pending edges, and note what each deleted span had added to the rollups in the
-- temp tables {red} and {edge}; correct_rollups.sql then subtracts exactly that.
-- The dependency of a client span is the stored peer/peer_kind, as counted at ingest.
WITH matched AS (
    SELECT DISTINCT trace_id FROM (
        SELECT s.trace_id FROM tracing_span s
        WHERE s.organization_id = %(org)s AND s.project_id = %(project)s AND {match}
        LIMIT %(limit)s
    ) AS m
), del AS (
    DELETE FROM tracing_span s
    WHERE s.organization_id = %(org)s AND s.project_id = %(project)s AND {match}
      AND s.trace_id IN (SELECT trace_id FROM matched)
    RETURNING s.organization_id, s.project_id, s.start_time, s.trace_id, s.span_id, s.parent_span_id, s.service_name,
              s.name, s.kind, s.status_code, s.duration_ns, s.peer, s.peer_kind
), pending AS (
    -- a child still waiting for its parent was never counted in an edge: forget it, subtract nothing
    DELETE FROM tracing_pending_edge pe USING del d
    WHERE pe.organization_id = d.organization_id AND pe.project_id = d.project_id AND pe.trace_id = d.trace_id
      AND pe.parent_span_id = d.parent_span_id AND pe.span_id = d.span_id
    RETURNING pe.trace_id, pe.span_id
), red AS (
    INSERT INTO {red}
    SELECT organization_id, project_id, start_time, service_name, name, kind, duration_ns, status_code = 2 FROM del
), parents AS (
    SELECT d.*, (
        SELECT t.service_name FROM tracing_span t
        WHERE t.organization_id = d.organization_id AND t.project_id = d.project_id AND t.trace_id = d.trace_id
          AND t.span_id = d.parent_span_id
          AND t.start_time BETWEEN d.start_time - interval '1 day' AND d.start_time + interval '1 hour'
        LIMIT 1) AS parent_service
    FROM del d
    WHERE d.parent_span_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM pending p WHERE p.trace_id = d.trace_id AND p.span_id = d.span_id)
), edge AS (
    INSERT INTO {edge}
    SELECT organization_id, project_id, start_time, parent_service, service_name, 'service', duration_ns,
           status_code = 2
    FROM parents WHERE parent_service IS NOT NULL AND parent_service <> service_name
    UNION ALL
    SELECT organization_id, project_id, start_time, service_name, peer, peer_kind, duration_ns, status_code = 2
    FROM del WHERE peer IS NOT NULL AND peer <> service_name
)
SELECT count(*) FROM del
