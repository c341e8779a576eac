-- Tail-based sampling (apps/tracing/sampling.py): one row per trace of a project that samples, upserted
-- in the span transaction; the decision job marks it keep/drop after the project's window.
-- first_seen/last_seen are arrival times (the window counts from the last arrival); min_start/max_start
-- bound the spans' start_time so deleting a dropped trace's spans touches only its partitions.
CREATE TABLE tracing_trace_state (
    organization_id bigint NOT NULL,
    project_id bigint NOT NULL,
    trace_id bytea NOT NULL,
    first_seen timestamptz NOT NULL,
    last_seen timestamptz NOT NULL,
    has_error boolean NOT NULL,
    max_duration_ns bigint NOT NULL,
    min_start timestamptz NOT NULL,
    max_start timestamptz NOT NULL,
    decided text CHECK (decided IN ('keep', 'drop')),
    decided_at timestamptz,
    PRIMARY KEY (organization_id, project_id, trace_id)
);
-- the decision job's scan (undecided, oldest arrival first) and the daily purge
CREATE INDEX tracing_trace_state_undecided ON tracing_trace_state (last_seen) WHERE decided IS NULL;
CREATE INDEX tracing_trace_state_decided ON tracing_trace_state (last_seen) WHERE decided IS NOT NULL;
