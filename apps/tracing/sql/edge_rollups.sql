-- Upserts of service-map edges (minute and hour) from a CTE named edge_hist, shared by insert_spans.sql
-- and resolve_pending_edges.sql. {size} is the histogram bucket count.
), edge_minute AS (
    INSERT INTO tracing_edge_minute AS r
    SELECT organization_id, project_id, date_trunc('minute', start_time), source, target, target_kind, count(*),
           count(*) FILTER (WHERE is_error), sum(duration_ns), vigil_hist_from_sparse(array_agg(h), array_agg(1::bigint), {size})
    FROM edge_hist WHERE target IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (organization_id, project_id, bucket, source_service, target, target_kind) DO UPDATE SET
        call_count = r.call_count + excluded.call_count, error_count = r.error_count + excluded.error_count,
        duration_sum_ns = r.duration_sum_ns + excluded.duration_sum_ns,
        histogram = vigil_hist_add(r.histogram, excluded.histogram)
), edge_hour AS (
    INSERT INTO tracing_edge_hour AS r
    SELECT organization_id, project_id, date_trunc('hour', start_time), source, target, target_kind, count(*),
           count(*) FILTER (WHERE is_error), sum(duration_ns), vigil_hist_from_sparse(array_agg(h), array_agg(1::bigint), {size})
    FROM edge_hist WHERE target IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (organization_id, project_id, bucket, source_service, target, target_kind) DO UPDATE SET
        call_count = r.call_count + excluded.call_count, error_count = r.error_count + excluded.error_count,
        duration_sum_ns = r.duration_sum_ns + excluded.duration_sum_ns,
        histogram = vigil_hist_add(r.histogram, excluded.histogram)
)
