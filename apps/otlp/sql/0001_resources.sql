-- Resources (service.name, host, pod, SDK...) stored once and referenced by a 16-byte fingerprint
-- from spans, logs and metric points: repeating the resource on every row halves COPY throughput.
CREATE TABLE otlp_resource (
    organization_id bigint NOT NULL,
    project_id bigint NOT NULL,
    fingerprint bytea NOT NULL,
    service_name text NOT NULL,
    attributes jsonb NOT NULL,
    dropped_attributes_count integer NOT NULL DEFAULT 0,
    schema_url text NOT NULL DEFAULT '',
    first_seen timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, project_id, fingerprint)
);
