-- Fold the rollup deltas written so far into the minute, ten-minute, hour and six-hour tables, in one transaction.
-- Deltas appended meanwhile are not in this snapshot and wait for the next run. Filled in by
-- apps/tracing/rollups.py: <delta>, <minute>, <tenmin>, <hour>, <sixhour> the tables, <keys> the key columns,
-- <count> the count column, <series> the key columns of a series, <arrays> the packed row's arrays to unnest.
-- Ten-minute and six-hour buckets start at multiples of their length since the epoch.
-- The packed rows are unpacked here as the {delta} view does for readers, but with their histograms detoasted
-- once per row: slicing the stored array once per series (~200 per row) read it back from TOAST each time.
WITH packed AS MATERIALIZED (
    DELETE FROM {delta}_packed RETURNING *, histograms || '{{}}'::bigint[] AS loaded
), taken AS MATERIALIZED (
    SELECT p.organization_id, p.project_id, p.bucket, s.*, p.loaded[s.first:s.last] AS histogram
    FROM packed AS p, unnest({arrays}) AS s({series}, {count}, error_count, duration_sum_ns, first, last)
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
), tenmin_pairs AS (
    SELECT {keys}, date_bin('10 minutes', bucket, timestamptz 'epoch') AS bucket, i, sum(c)::bigint AS c
    FROM pairs GROUP BY 1, 2, 3, 4, 5, 6, 7
), tenmin_totals AS (
    SELECT {keys}, date_bin('10 minutes', bucket, timestamptz 'epoch') AS bucket, sum({count})::bigint AS {count},
           sum(error_count)::bigint AS error_count, sum(duration_sum_ns)::bigint AS duration_sum_ns
    FROM minute GROUP BY {keys}, 6
), tenmin AS (
    SELECT t.*, h.histogram FROM tenmin_totals t JOIN (
        SELECT {keys}, bucket, array_agg((i << 32) | c ORDER BY i) AS histogram FROM tenmin_pairs
        GROUP BY {keys}, bucket
    ) h USING ({keys}, bucket)
), hour_pairs AS (
    SELECT {keys}, date_trunc('hour', bucket) AS bucket, i, sum(c)::bigint AS c FROM tenmin_pairs
    GROUP BY 1, 2, 3, 4, 5, 6, 7
), hour_totals AS (
    SELECT {keys}, date_trunc('hour', bucket) AS bucket, sum({count})::bigint AS {count},
           sum(error_count)::bigint AS error_count, sum(duration_sum_ns)::bigint AS duration_sum_ns
    FROM tenmin_totals GROUP BY {keys}, 6
), hour AS (
    SELECT t.*, h.histogram FROM hour_totals t JOIN (
        SELECT {keys}, bucket, array_agg((i << 32) | c ORDER BY i) AS histogram FROM hour_pairs GROUP BY {keys}, bucket
    ) h USING ({keys}, bucket)
), sixhour AS (
    SELECT t.*, h.histogram FROM (
        SELECT {keys}, date_bin('6 hours', bucket, timestamptz 'epoch') AS bucket, sum({count})::bigint AS {count},
               sum(error_count)::bigint AS error_count, sum(duration_sum_ns)::bigint AS duration_sum_ns
        FROM hour_totals GROUP BY {keys}, 6
    ) t JOIN (
        SELECT {keys}, bucket, array_agg((i << 32) | c ORDER BY i) AS histogram FROM (
            SELECT {keys}, date_bin('6 hours', bucket, timestamptz 'epoch') AS bucket, i, sum(c)::bigint AS c
            FROM hour_pairs GROUP BY 1, 2, 3, 4, 5, 6, 7
        ) p GROUP BY {keys}, bucket
    ) h USING ({keys}, bucket)
), up_minute AS (
    INSERT INTO {minute} AS r ({keys}, bucket, {count}, error_count, duration_sum_ns, histogram)
    SELECT {keys}, bucket, {count}, error_count, duration_sum_ns, histogram FROM minute ORDER BY {keys}, bucket
    ON CONFLICT ({keys}, bucket) DO UPDATE SET
        {count} = r.{count} + excluded.{count}, error_count = r.error_count + excluded.error_count,
        duration_sum_ns = r.duration_sum_ns + excluded.duration_sum_ns,
        histogram = vigil_hist_merge(r.histogram, excluded.histogram)
), up_tenmin AS (
    INSERT INTO {tenmin} AS r ({keys}, bucket, {count}, error_count, duration_sum_ns, histogram)
    SELECT {keys}, bucket, {count}, error_count, duration_sum_ns, histogram FROM tenmin ORDER BY {keys}, bucket
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
), up_sixhour AS (
    INSERT INTO {sixhour} AS r ({keys}, bucket, {count}, error_count, duration_sum_ns, histogram)
    SELECT {keys}, bucket, {count}, error_count, duration_sum_ns, histogram FROM sixhour ORDER BY {keys}, bucket
    ON CONFLICT ({keys}, bucket) DO UPDATE SET
        {count} = r.{count} + excluded.{count}, error_count = r.error_count + excluded.error_count,
        duration_sum_ns = r.duration_sum_ns + excluded.duration_sum_ns,
        histogram = vigil_hist_merge(r.histogram, excluded.histogram)
)
SELECT count(*) FROM taken
