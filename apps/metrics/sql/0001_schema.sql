-- Metric series, their points and per-series rollups. Keys lead with organization_id, project_id.

-- One row per distinct series: the 16-byte blake2b of (name, kind, unit, temporality, monotonic,
-- attributes, resource fingerprint, scope name); see apps/metrics/writers.py.
CREATE TABLE metrics_series (
    organization_id bigint NOT NULL,
    project_id bigint NOT NULL,
    series_hash bytea NOT NULL,
    kind smallint NOT NULL,          -- apps.otlp.types.MetricKind: 1 gauge, 2 sum, 3 histogram, 4 exp. histogram, 5 summary
    temporality smallint NOT NULL,   -- 0 unspecified, 1 delta, 2 cumulative
    monotonic boolean NOT NULL,
    first_seen timestamptz NOT NULL DEFAULT now(),
    resource_fingerprint bytea NOT NULL,
    name text NOT NULL,
    description text NOT NULL,
    unit text NOT NULL,
    scope_name text NOT NULL,
    scope_version text NOT NULL,
    attributes jsonb NOT NULL,
    PRIMARY KEY (organization_id, project_id, series_hash)
);
CREATE INDEX metrics_series_name ON metrics_series (organization_id, project_id, name);

-- Distinct series per project, kept in the transaction that adds series: the series cap reads one row.
CREATE TABLE metrics_series_count (
    organization_id bigint NOT NULL,
    project_id bigint NOT NULL,
    series_count bigint NOT NULL,
    PRIMARY KEY (organization_id, project_id)
);

-- Data points of every kind; the columns a kind does not use stay NULL.
CREATE TABLE metrics_point (
    organization_id bigint NOT NULL,
    project_id bigint NOT NULL,
    series_hash bytea NOT NULL,
    time timestamptz NOT NULL,
    time_ns bigint NOT NULL,
    start_time_ns bigint NOT NULL,
    flags integer NOT NULL,
    value double precision,          -- gauge and sum (also for integer points, for arithmetic)
    value_int bigint,                -- the exact value of an integer point (as_int); NULL for doubles
    count bigint,                    -- histogram, exponential histogram, summary
    sum double precision,
    min double precision,
    max double precision,
    bucket_counts bigint[],          -- histogram
    explicit_bounds double precision[],
    scale integer,                   -- exponential histogram
    zero_count bigint,
    zero_threshold double precision,
    positive_offset integer,
    positive_counts bigint[],
    negative_offset integer,
    negative_counts bigint[],
    quantiles jsonb,                 -- summary: [{"quantile", "value"}]
    exemplars jsonb,                 -- [{"time_unix_nano", "value", "filtered_attributes", "trace_id", "span_id"}]
    PRIMARY KEY (organization_id, project_id, series_hash, time)
) PARTITION BY RANGE (time);
CREATE INDEX metrics_point_time_brin ON metrics_point USING brin (time);

-- Per-series rollups, merged in apps/metrics/rollups.py from the points the INSERT really added.
-- Cumulative sums and histograms are turned into deltas against the series' previous point first.
CREATE TABLE metrics_rollup_minute (
    organization_id bigint NOT NULL,
    project_id bigint NOT NULL,
    series_hash bytea NOT NULL,
    bucket timestamptz NOT NULL,
    points bigint NOT NULL,
    last_time_ns bigint NOT NULL,
    value_min double precision,      -- gauge and sum values
    value_max double precision,
    value_sum double precision,
    value_last double precision,
    increase double precision,       -- monotonic sums: the increase over the bucket, counter resets handled
    hist_count bigint,               -- histograms (delta), exponential histograms and summaries
    hist_sum double precision,
    hist_min double precision,
    hist_max double precision,
    explicit_bounds double precision[],
    bucket_counts bigint[],          -- merged element-wise while the bounds stay equal
    skipped_points bigint NOT NULL DEFAULT 0,  -- histogram points with other bounds, not merged into bucket_counts
    exp_scale integer,               -- exponential histograms, merged at the smallest scale seen
    exp_zero_count bigint,
    exp_positive_offset integer,
    exp_positive_counts bigint[],
    exp_negative_offset integer,
    exp_negative_counts bigint[],
    PRIMARY KEY (organization_id, project_id, series_hash, bucket)
) PARTITION BY RANGE (bucket);

CREATE TABLE metrics_rollup_hour (LIKE metrics_rollup_minute INCLUDING ALL) PARTITION BY RANGE (bucket);
