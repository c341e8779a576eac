-- Spans and their rollups. Every table leads its keys with organization_id, project_id and is
-- range-partitioned by day (apps.core.partitions); partitions are created by the maintenance task.

CREATE TABLE tracing_span (
    organization_id bigint NOT NULL,
    project_id bigint NOT NULL,
    start_time timestamptz NOT NULL,
    trace_id bytea NOT NULL,
    span_id bytea NOT NULL,
    parent_span_id bytea,
    start_ns bigint NOT NULL,
    duration_ns bigint NOT NULL,
    service_name text NOT NULL,
    name text NOT NULL,
    kind smallint NOT NULL,
    status_code smallint NOT NULL,
    status_message text NOT NULL,
    trace_state text NOT NULL,
    flags bigint NOT NULL,
    resource_fingerprint bytea NOT NULL,
    scope_name text NOT NULL,
    scope_version text NOT NULL,
    scope_attributes jsonb,
    attributes jsonb NOT NULL,
    events jsonb,
    links jsonb,
    dropped_attributes_count integer NOT NULL,
    dropped_events_count integer NOT NULL,
    dropped_links_count integer NOT NULL,
    -- promoted hot attributes (btree-indexable, cheaper than a GIN on attributes)
    http_route text,
    http_status_code integer,
    db_system text,
    enduser_id text,
    PRIMARY KEY (organization_id, project_id, trace_id, span_id, start_time)
) PARTITION BY RANGE (start_time);

CREATE INDEX tracing_span_service_time ON tracing_span (organization_id, project_id, service_name, start_time);
CREATE INDEX tracing_span_time_brin ON tracing_span USING brin (start_time);
CREATE INDEX tracing_span_enduser ON tracing_span (organization_id, project_id, enduser_id) WHERE enduser_id IS NOT NULL;

-- Per-minute and per-hour RED: requests, errors, summed duration and a log-scale histogram
-- (apps/tracing/histogram.py describes the buckets).
CREATE TABLE tracing_red_minute (
    organization_id bigint NOT NULL,
    project_id bigint NOT NULL,
    bucket timestamptz NOT NULL,
    service_name text NOT NULL,
    operation text NOT NULL,
    span_kind smallint NOT NULL,
    request_count bigint NOT NULL,
    error_count bigint NOT NULL,
    duration_sum_ns bigint NOT NULL,
    histogram integer[] NOT NULL,
    PRIMARY KEY (organization_id, project_id, bucket, service_name, operation, span_kind)
) PARTITION BY RANGE (bucket);

CREATE TABLE tracing_red_hour (LIKE tracing_red_minute INCLUDING ALL) PARTITION BY RANGE (bucket);

-- Service-map edges: caller -> callee (a service, or a database/cache/queue/external node).
CREATE TABLE tracing_edge_minute (
    organization_id bigint NOT NULL,
    project_id bigint NOT NULL,
    bucket timestamptz NOT NULL,
    source_service text NOT NULL,
    target text NOT NULL,
    target_kind text NOT NULL,
    call_count bigint NOT NULL,
    error_count bigint NOT NULL,
    duration_sum_ns bigint NOT NULL,
    histogram integer[] NOT NULL,
    PRIMARY KEY (organization_id, project_id, bucket, source_service, target, target_kind)
) PARTITION BY RANGE (bucket);

CREATE TABLE tracing_edge_hour (LIKE tracing_edge_minute INCLUDING ALL) PARTITION BY RANGE (bucket);

-- Child spans whose parent (in another request) has not arrived yet: resolved into edges
-- when the parent comes; expired by maintenance.
CREATE TABLE tracing_pending_edge (
    organization_id bigint NOT NULL,
    project_id bigint NOT NULL,
    trace_id bytea NOT NULL,
    parent_span_id bytea NOT NULL,
    span_id bytea NOT NULL,
    service_name text NOT NULL,
    start_time timestamptz NOT NULL,
    duration_ns bigint NOT NULL,
    is_error boolean NOT NULL,
    PRIMARY KEY (organization_id, project_id, trace_id, parent_span_id, span_id)
);
CREATE INDEX tracing_pending_edge_age ON tracing_pending_edge (start_time);

-- Dense log-scale histograms: element-wise sum, and building one from (bucket index, count) pairs.
CREATE FUNCTION vigil_hist_add(a integer[], b integer[]) RETURNS integer[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_agg(coalesce(x, 0) + coalesce(y, 0) ORDER BY i)
    FROM unnest(a, b) WITH ORDINALITY AS t(x, y, i)
$$;

CREATE FUNCTION vigil_hist_from_sparse(idx integer[], cnt bigint[], size integer) RETURNS integer[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_agg(coalesce(s.c, 0)::integer ORDER BY g.i)
    FROM generate_series(0, size - 1) AS g(i)
    LEFT JOIN (SELECT j, sum(c) AS c FROM unnest(idx, cnt) AS u(j, c) GROUP BY j) AS s ON s.j = g.i
$$;
