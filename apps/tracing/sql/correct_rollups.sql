-- GDPR deletion: subtract what the deleted spans (noted in {removed} by erase_spans.sql) had added to one
-- rollup table ({table}; a span's bucket there: {bucket_of}). Runs after every delta was folded
-- (rollups.fold_all_deltas, whose lock is held until commit), so the folded rows hold all of it. Packed
-- histograms cannot hold a negative count, so buckets are subtracted here and emptied ones dropped; counts
-- never go below zero.
WITH removed AS (
    SELECT organization_id, project_id, {bucket_of} AS bucket, {keys}, {hist_index} AS h,
           count(*) AS n, count(*) FILTER (WHERE is_error) AS e, sum(duration_ns) AS d
    FROM {removed} GROUP BY organization_id, project_id, 3, {keys}, h
), grouped AS (
    SELECT organization_id, project_id, bucket, {keys}, sum(n)::bigint AS n, sum(e)::bigint AS e,
           sum(d)::bigint AS d, array_agg((h::bigint << 32) | n ORDER BY h) AS histogram
    FROM removed GROUP BY organization_id, project_id, bucket, {keys}
)
UPDATE {table} AS r SET
    {count} = greatest(r.{count} - g.n, 0),
    error_count = greatest(r.error_count - g.e, 0),
    duration_sum_ns = greatest(r.duration_sum_ns - g.d, 0),
    histogram = (
        SELECT coalesce(array_agg((i << 32) | c ORDER BY i), '{{}}') FROM (
            SELECT i, sum(c)::bigint AS c FROM (
                SELECT v >> 32 AS i, v & 4294967295 AS c FROM unnest(r.histogram) AS a(v)
                UNION ALL
                SELECT v >> 32, -(v & 4294967295) FROM unnest(g.histogram) AS b(v)
            ) AS u GROUP BY i HAVING sum(c) > 0
        ) AS s
    )
FROM grouped g
WHERE r.organization_id = g.organization_id AND r.project_id = g.project_id AND r.bucket = g.bucket
  AND {join};
-- Rows whose every span was deleted go away.
DELETE FROM {table} AS r USING (
    SELECT DISTINCT organization_id, project_id, {bucket_of} AS bucket, {keys} FROM {removed}
) AS g
WHERE r.organization_id = g.organization_id AND r.project_id = g.project_id AND r.bucket = g.bucket
  AND {join} AND r.{count} <= 0
