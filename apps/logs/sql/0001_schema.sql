-- Log records and their per-minute counts. Keys lead with organization_id, project_id; both tables are
-- range-partitioned by day (apps.core.partitions) and created ahead by the maintenance task.

CREATE TABLE logs_record (
    organization_id bigint NOT NULL,
    project_id bigint NOT NULL,
    -- time_unix_nano, or the observed time when the record has none (apps/logs/writers.py)
    time timestamptz NOT NULL,
    -- 16-byte blake2b of the record's content: a retried request inserts nothing (ON CONFLICT DO NOTHING)
    record_id bytea NOT NULL,
    time_ns bigint NOT NULL,
    observed_time_ns bigint NOT NULL,
    flags bigint NOT NULL,
    severity_number smallint NOT NULL,
    dropped_attributes_count integer NOT NULL,
    trace_id bytea,
    span_id bytea,
    resource_fingerprint bytea NOT NULL,
    service_name text NOT NULL,
    severity_text text NOT NULL,
    event_name text NOT NULL,
    scope_name text NOT NULL,
    scope_version text NOT NULL,
    scope_attributes jsonb,
    body jsonb,           -- any OTLP value in its JSON type (a string body is a JSON string); NULL: no body
    body_text text,       -- the string body, or the JSON text of any other body: what text search reads
    attributes jsonb NOT NULL,
    PRIMARY KEY (organization_id, project_id, time, record_id)
) PARTITION BY RANGE (time);

CREATE INDEX logs_record_service_time ON logs_record (organization_id, project_id, service_name, time);
CREATE INDEX logs_record_trace ON logs_record (organization_id, project_id, trace_id) WHERE trace_id IS NOT NULL;
CREATE INDEX logs_record_time_brin ON logs_record USING brin (time);
-- No full-text GIN index on to_tsvector('simple', body_text): measured with write_logs (20 x 1,000 records,
-- 12-word bodies) it cut ingest from ~19,000 to 11,000-12,900 records/s (32-42 %), above the 30 % budget.
-- ``q`` searches body_text with ILIKE inside the tenant, service and time filters instead.

-- Log counts per minute, service and severity range (1 trace, 5 debug, 9 info, 13 warn, 17 error,
-- 21 fatal: the lowest severity number of the range; 0 unspecified). Fed from the rows the INSERT added.
CREATE TABLE logs_count_minute (
    organization_id bigint NOT NULL,
    project_id bigint NOT NULL,
    bucket timestamptz NOT NULL,
    service_name text NOT NULL,
    severity smallint NOT NULL,
    record_count bigint NOT NULL,
    PRIMARY KEY (organization_id, project_id, bucket, service_name, severity)
) PARTITION BY RANGE (bucket);
