-- One batch of spans: insert the new ones, and append the rollup deltas (RED and service-map edges)
-- of exactly the rows the INSERT added (``ins``), so a retried span is neither stored nor counted twice.
-- Filled in by apps/tracing/writers.py: <stage> the staging table, <hist_index> the bucket formula,
-- <edge_deltas> the shared edge-delta insert (edge_deltas.sql), <peer>/<peer_kind> the dependency a
-- client span calls (apps/tracing/writers.py).
WITH ins AS (
    INSERT INTO tracing_span SELECT * FROM {stage} ORDER BY trace_id, span_id
    ON CONFLICT DO NOTHING
    RETURNING organization_id, project_id, start_time, trace_id, span_id, parent_span_id, service_name, name, kind,
              status_code, duration_ns,
              -- the dependency a client/producer span calls, read from its attributes here so that the
              -- attributes themselves are not carried through the rest of the statement
              CASE WHEN kind IN (3, 4) THEN {peer} END AS peer,
              CASE WHEN kind IN (3, 4) THEN {peer_kind} END AS peer_kind
), spans AS (
    SELECT *, {hist_index} AS h, (status_code = 2) AS is_error FROM ins
), parents AS (
    -- the caller of each new span: in this batch (a hash join) or already stored (looked up only when
    -- the batch has no parent: COALESCE evaluates lazily); children may arrive first: see pending
    SELECT c.*, coalesce(s.service_name, (
        SELECT t.service_name FROM tracing_span t
        WHERE t.organization_id = c.organization_id AND t.project_id = c.project_id AND t.trace_id = c.trace_id
          AND t.span_id = c.parent_span_id
          AND t.start_time BETWEEN c.start_time - interval '1 day' AND c.start_time + interval '1 hour'
        LIMIT 1)) AS parent_service
    FROM spans c
    LEFT JOIN {stage} s ON s.trace_id = c.trace_id AND s.span_id = c.parent_span_id
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
    SELECT organization_id, project_id, start_time, service_name, peer, peer_kind, duration_ns, is_error
    FROM spans WHERE peer IS NOT NULL
), red_buckets AS (
    SELECT organization_id, project_id, date_trunc('minute', start_time) AS bucket, service_name, name, kind, h,
           count(*) AS n, count(*) FILTER (WHERE is_error) AS e, sum(duration_ns) AS d
    FROM spans GROUP BY 1, 2, 3, 4, 5, 6, 7
), red_delta AS (
    INSERT INTO tracing_red_delta (organization_id, project_id, bucket, service_name, operation, span_kind,
                                   request_count, error_count, duration_sum_ns, histogram)
    SELECT organization_id, project_id, bucket, service_name, name, kind, sum(n), sum(e), sum(d),
           array_agg((h::bigint << 32) | n ORDER BY h)
    FROM red_buckets GROUP BY 1, 2, 3, 4, 5, 6
), {edge_deltas}
SELECT count(*) FROM ins
