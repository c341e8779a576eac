-- Fold the rollup deltas written so far into the minute and hour tables, in one transaction.
-- Deltas appended meanwhile are not in this snapshot and wait for the next run. Filled in by
-- apps/tracing/rollups.py: <delta>, <minute>, <hour> the tables, <keys> the key columns,
-- <count> the count column.
WITH taken AS (
    DELETE FROM {delta} RETURNING *
), pairs AS (
    SELECT {keys}, bucket, u.v >> 32 AS i, sum(u.v & 4294967295)::bigint AS c
    FROM taken, unnest(histogram) AS u(v) GROUP BY {keys}, bucket, i
), minute AS (
    SELECT t.*, h.histogram FROM (
        SELECT {keys}, bucket, sum({count})::bigint AS {count}, sum(error_count)::bigint AS error_count,
               sum(duration_sum_ns)::bigint AS duration_sum_ns
        FROM taken GROUP BY {keys}, bucket
    ) t JOIN (
        SELECT {keys}, bucket, array_agg((i << 32) | c ORDER BY i) AS histogram FROM pairs GROUP BY {keys}, bucket
    ) h USING ({keys}, bucket)
), hour_pairs AS (
    SELECT {keys}, date_trunc('hour', bucket) AS bucket, i, sum(c)::bigint AS c FROM pairs GROUP BY 1, 2, 3, 4, 5, 6, 7
), hour AS (
    SELECT t.*, h.histogram FROM (
        SELECT {keys}, date_trunc('hour', bucket) AS bucket, sum({count})::bigint AS {count},
               sum(error_count)::bigint AS error_count, sum(duration_sum_ns)::bigint AS duration_sum_ns
        FROM minute GROUP BY {keys}, 6
    ) t JOIN (
        SELECT {keys}, bucket, array_agg((i << 32) | c ORDER BY i) AS histogram FROM hour_pairs GROUP BY {keys}, bucket
    ) h USING ({keys}, bucket)
), up_minute AS (
    INSERT INTO {minute} AS r ({keys}, bucket, {count}, error_count, duration_sum_ns, histogram)
    SELECT {keys}, bucket, {count}, error_count, duration_sum_ns, histogram FROM minute ORDER BY {keys}, bucket
    ON CONFLICT ({keys}, bucket) DO UPDATE SET
        {count} = r.{count} + excluded.{count}, error_count = r.error_count + excluded.error_count,
        duration_sum_ns = r.duration_sum_ns + excluded.duration_sum_ns,
        histogram = vigil_hist_merge(r.histogram, excluded.histogram)
), up_hour AS (
    INSERT INTO {hour} AS r ({keys}, bucket, {count}, error_count, duration_sum_ns, histogram)
    SELECT {keys}, bucket, {count}, error_count, duration_sum_ns, histogram FROM hour ORDER BY {keys}, bucket
    ON CONFLICT ({keys}, bucket) DO UPDATE SET
        {count} = r.{count} + excluded.{count}, error_count = r.error_count + excluded.error_count,
        duration_sum_ns = r.duration_sum_ns + excluded.duration_sum_ns,
        histogram = vigil_hist_merge(r.histogram, excluded.histogram)
)
SELECT count(*) FROM taken
