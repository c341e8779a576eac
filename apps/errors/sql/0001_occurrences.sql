-- One row per exception (a span's "exception" event, or an error log record), written in the ingest
-- transaction (apps/errors/writers.py). The key makes a retried request a no-op: (trace, span, seq) for a
-- span event; for a log record its record id in place of the span id. Partitioned by day like spans.
CREATE TABLE errors_occurrence (
    organization_id bigint NOT NULL,
    project_id bigint NOT NULL,
    time timestamptz NOT NULL,
    fingerprint text NOT NULL,
    trace_id bytea NOT NULL,
    span_id bytea NOT NULL,
    seq integer NOT NULL,
    service_name text NOT NULL,
    operation text NOT NULL,
    enduser_id text,
    source smallint NOT NULL,  -- 1: span event, 2: log record
    PRIMARY KEY (organization_id, project_id, trace_id, span_id, seq, time)
) PARTITION BY RANGE (time);
CREATE INDEX errors_occurrence_group ON errors_occurrence (organization_id, project_id, fingerprint, time);
CREATE INDEX errors_occurrence_time ON errors_occurrence (organization_id, project_id, time);
