-- One batch of spans: insert the new ones and upsert every rollup from exactly the rows the INSERT added
-- (``ins``), so a retried span is neither stored nor counted twice. Filled in by apps/tracing/writers.py:
-- {stage} the staging table, {hist_index} the histogram bucket formula, {size} the bucket count.
WITH ins AS (
    INSERT INTO tracing_span SELECT * FROM {stage} ORDER BY trace_id, span_id
    ON CONFLICT DO NOTHING
    RETURNING organization_id, project_id, start_time, trace_id, span_id, parent_span_id, service_name, name, kind,
              status_code, duration_ns, db_system, attributes
), spans AS (
    SELECT *, {hist_index} AS h, (status_code = 2) AS is_error FROM ins
), parents AS (
    -- the caller of each new span: in this batch or already stored (children may arrive first: see pending)
    SELECT c.*, p.service_name AS parent_service
    FROM spans c
    LEFT JOIN LATERAL (
        SELECT s.service_name FROM {stage} s WHERE s.trace_id = c.trace_id AND s.span_id = c.parent_span_id
        UNION ALL
        SELECT t.service_name FROM tracing_span t
        WHERE t.organization_id = c.organization_id AND t.project_id = c.project_id AND t.trace_id = c.trace_id
          AND t.span_id = c.parent_span_id
          AND t.start_time BETWEEN c.start_time - interval '1 day' AND c.start_time + interval '1 hour'
        LIMIT 1
    ) p ON true
    WHERE c.parent_span_id IS NOT NULL
), pending AS (
    INSERT INTO tracing_pending_edge
    SELECT organization_id, project_id, trace_id, parent_span_id, span_id, service_name, start_time, duration_ns, is_error
    FROM parents WHERE parent_service IS NULL ORDER BY trace_id, parent_span_id, span_id
    ON CONFLICT DO NOTHING
), resolved AS (
    -- children stored earlier whose parent is in this batch
    DELETE FROM tracing_pending_edge pe USING spans s
    WHERE pe.organization_id = s.organization_id AND pe.project_id = s.project_id AND pe.trace_id = s.trace_id
      AND pe.parent_span_id = s.span_id
    RETURNING s.service_name AS source, pe.service_name AS target, pe.start_time, pe.duration_ns, pe.is_error,
              pe.organization_id, pe.project_id
), edges AS (
    SELECT organization_id, project_id, start_time, parent_service AS source, service_name AS target,
           'service' AS target_kind, duration_ns, is_error
    FROM parents WHERE parent_service IS NOT NULL AND parent_service <> service_name
    UNION ALL
    SELECT organization_id, project_id, start_time, source, target, 'service', duration_ns, is_error
    FROM resolved WHERE source <> target
    UNION ALL
    SELECT organization_id, project_id, start_time, service_name,
           coalesce(db_system || coalesce(':' || coalesce(attributes->>'db.namespace', attributes->>'db.name'), ''),
                    attributes->>'messaging.system' || coalesce(':' || (attributes->>'messaging.destination.name'), ''),
                    attributes->>'server.address', attributes->>'net.peer.name'),
           CASE WHEN db_system IN ('redis', 'memcached', 'valkey') THEN 'cache'
                WHEN db_system IS NOT NULL THEN 'database'
                WHEN attributes ? 'messaging.system' THEN 'queue'
                ELSE 'external' END,
           duration_ns, is_error
    FROM spans
    WHERE kind IN (3, 4) AND (db_system IS NOT NULL OR attributes ?| array['messaging.system', 'server.address',
                                                                              'net.peer.name'])
), edge_hist AS (
    SELECT *, {hist_index} AS h FROM edges
), red_minute AS (
    INSERT INTO tracing_red_minute AS r
    SELECT organization_id, project_id, date_trunc('minute', start_time), service_name, name, kind, count(*),
           count(*) FILTER (WHERE is_error), sum(duration_ns), vigil_hist_from_sparse(array_agg(h), array_agg(1::bigint), {size})
    FROM spans GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (organization_id, project_id, bucket, service_name, operation, span_kind) DO UPDATE SET
        request_count = r.request_count + excluded.request_count, error_count = r.error_count + excluded.error_count,
        duration_sum_ns = r.duration_sum_ns + excluded.duration_sum_ns,
        histogram = vigil_hist_add(r.histogram, excluded.histogram)
), red_hour AS (
    INSERT INTO tracing_red_hour AS r
    SELECT organization_id, project_id, date_trunc('hour', start_time), service_name, name, kind, count(*),
           count(*) FILTER (WHERE is_error), sum(duration_ns), vigil_hist_from_sparse(array_agg(h), array_agg(1::bigint), {size})
    FROM spans GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (organization_id, project_id, bucket, service_name, operation, span_kind) DO UPDATE SET
        request_count = r.request_count + excluded.request_count, error_count = r.error_count + excluded.error_count,
        duration_sum_ns = r.duration_sum_ns + excluded.duration_sum_ns,
        histogram = vigil_hist_add(r.histogram, excluded.histogram)
{edge_rollups}
SELECT count(*) FROM ins
