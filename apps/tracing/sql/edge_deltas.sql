edge_buckets AS (
    -- shared by insert_spans.sql and resolve_pending_edges.sql: reads a CTE named ``edges``
    SELECT organization_id, project_id, date_trunc('minute', start_time) AS bucket, source, target, target_kind,
           {hist_index} AS h, count(*) AS n, count(*) FILTER (WHERE is_error) AS e, sum(duration_ns) AS d
    FROM edges WHERE target IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6, 7
), edge_delta AS (
    INSERT INTO tracing_edge_delta (organization_id, project_id, bucket, source_service, target, target_kind,
                                    call_count, error_count, duration_sum_ns, histogram)
    SELECT organization_id, project_id, bucket, source, target, target_kind, sum(n), sum(e), sum(d),
           array_agg((h::bigint << 32) | n ORDER BY h)
    FROM edge_buckets GROUP BY 1, 2, 3, 4, 5, 6
)
