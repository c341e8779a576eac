-- Rollup deltas packed: an ingest transaction appends one row per tenant and minute to each delta table, its series
-- in parallel arrays, instead of one row per series (~0.8 rows per span on realistic batches: 400 rows for 512
-- spans, whose heap and index inserts cost PostgreSQL ~8 µs per span, bench/ingest_phases.py). The views keep the
-- name and the columns of the unpacked deltas, so readers (apps/tracing/queries.py) and compaction read series as
-- before. Series i's histogram is histograms[histogram_first[i]:histogram_last[i]] (packed as in 0002).

CREATE TABLE tracing_red_delta_packed (
    organization_id bigint NOT NULL,
    project_id bigint NOT NULL,
    delta_id bigint GENERATED ALWAYS AS IDENTITY,
    bucket timestamptz NOT NULL,
    service_name text[] NOT NULL,
    operation text[] NOT NULL,
    span_kind smallint[] NOT NULL,
    request_count bigint[] NOT NULL,
    error_count bigint[] NOT NULL,
    duration_sum_ns bigint[] NOT NULL,
    histogram_first integer[] NOT NULL,
    histogram_last integer[] NOT NULL,
    histograms bigint[] NOT NULL,
    PRIMARY KEY (organization_id, project_id, delta_id)
);
CREATE INDEX tracing_red_delta_packed_bucket ON tracing_red_delta_packed (organization_id, project_id, bucket);

CREATE TABLE tracing_edge_delta_packed (
    organization_id bigint NOT NULL,
    project_id bigint NOT NULL,
    delta_id bigint GENERATED ALWAYS AS IDENTITY,
    bucket timestamptz NOT NULL,
    source_service text[] NOT NULL,
    target text[] NOT NULL,
    target_kind text[] NOT NULL,
    call_count bigint[] NOT NULL,
    error_count bigint[] NOT NULL,
    duration_sum_ns bigint[] NOT NULL,
    histogram_first integer[] NOT NULL,
    histogram_last integer[] NOT NULL,
    histograms bigint[] NOT NULL,
    PRIMARY KEY (organization_id, project_id, delta_id)
);
CREATE INDEX tracing_edge_delta_packed_bucket ON tracing_edge_delta_packed (organization_id, project_id, bucket);

-- Stored out of line without compression: a packed row lives until the next compaction (seconds), and pglz
-- compressing its ~20 kB of arrays cost more PostgreSQL CPU than the rows it replaced.
ALTER TABLE tracing_red_delta_packed
    ALTER COLUMN service_name SET STORAGE EXTERNAL, ALTER COLUMN operation SET STORAGE EXTERNAL,
    ALTER COLUMN span_kind SET STORAGE EXTERNAL, ALTER COLUMN request_count SET STORAGE EXTERNAL,
    ALTER COLUMN error_count SET STORAGE EXTERNAL, ALTER COLUMN duration_sum_ns SET STORAGE EXTERNAL,
    ALTER COLUMN histogram_first SET STORAGE EXTERNAL, ALTER COLUMN histogram_last SET STORAGE EXTERNAL,
    ALTER COLUMN histograms SET STORAGE EXTERNAL;
ALTER TABLE tracing_edge_delta_packed
    ALTER COLUMN source_service SET STORAGE EXTERNAL, ALTER COLUMN target SET STORAGE EXTERNAL,
    ALTER COLUMN target_kind SET STORAGE EXTERNAL, ALTER COLUMN call_count SET STORAGE EXTERNAL,
    ALTER COLUMN error_count SET STORAGE EXTERNAL, ALTER COLUMN duration_sum_ns SET STORAGE EXTERNAL,
    ALTER COLUMN histogram_first SET STORAGE EXTERNAL, ALTER COLUMN histogram_last SET STORAGE EXTERNAL,
    ALTER COLUMN histograms SET STORAGE EXTERNAL;

-- Deltas not folded yet carry over, one series per packed row.
INSERT INTO tracing_red_delta_packed (organization_id, project_id, bucket, service_name, operation, span_kind,
                                      request_count, error_count, duration_sum_ns, histogram_first, histogram_last,
                                      histograms)
SELECT organization_id, project_id, bucket, ARRAY[service_name], ARRAY[operation], ARRAY[span_kind],
       ARRAY[request_count], ARRAY[error_count], ARRAY[duration_sum_ns], ARRAY[1], ARRAY[cardinality(histogram)],
       histogram
FROM tracing_red_delta;
INSERT INTO tracing_edge_delta_packed (organization_id, project_id, bucket, source_service, target, target_kind,
                                       call_count, error_count, duration_sum_ns, histogram_first, histogram_last,
                                       histograms)
SELECT organization_id, project_id, bucket, ARRAY[source_service], ARRAY[target], ARRAY[target_kind],
       ARRAY[call_count], ARRAY[error_count], ARRAY[duration_sum_ns], ARRAY[1], ARRAY[cardinality(histogram)],
       histogram
FROM tracing_edge_delta;
DROP TABLE tracing_red_delta, tracing_edge_delta;

CREATE VIEW tracing_red_delta AS
SELECT p.organization_id, p.project_id, p.bucket, s.service_name, s.operation, s.span_kind, s.request_count,
       s.error_count, s.duration_sum_ns, p.histograms[s.first:s.last] AS histogram
FROM tracing_red_delta_packed AS p,
     unnest(p.service_name, p.operation, p.span_kind, p.request_count, p.error_count, p.duration_sum_ns,
            p.histogram_first, p.histogram_last)
         AS s(service_name, operation, span_kind, request_count, error_count, duration_sum_ns, first, last);

CREATE VIEW tracing_edge_delta AS
SELECT p.organization_id, p.project_id, p.bucket, s.source_service, s.target, s.target_kind, s.call_count,
       s.error_count, s.duration_sum_ns, p.histograms[s.first:s.last] AS histogram
FROM tracing_edge_delta_packed AS p,
     unnest(p.source_service, p.target, p.target_kind, p.call_count, p.error_count, p.duration_sum_ns,
            p.histogram_first, p.histogram_last)
         AS s(source_service, target, target_kind, call_count, error_count, duration_sum_ns, first, last);
