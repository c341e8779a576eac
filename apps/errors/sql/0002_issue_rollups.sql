-- Occurrence rollups for the issues list (apps/errors/queries.py), written in the statement that inserts the
-- occurrences (apps/errors/writers.py: only rows actually inserted count, so a retried request adds nothing),
-- corrected by GDPR erasure (apps/errors/erasure.py) and, partitioned by day like the occurrences, dropped with them
-- by retention. bench/queries.py: a day of ~420 k occurrences (10 M spans) is read as ~4 k rows.

-- Occurrences and the latest one per issue and minute, ten minutes (from a multiple of ten since the epoch) or hour.
CREATE TABLE errors_issue_minute (
    organization_id bigint NOT NULL,
    project_id bigint NOT NULL,
    bucket timestamptz NOT NULL,
    fingerprint text NOT NULL,
    occurrences bigint NOT NULL,
    last_seen timestamptz NOT NULL,
    PRIMARY KEY (organization_id, project_id, bucket, fingerprint)
) PARTITION BY RANGE (bucket);
CREATE TABLE errors_issue_tenmin (LIKE errors_issue_minute INCLUDING ALL) PARTITION BY RANGE (bucket);
CREATE TABLE errors_issue_hour (LIKE errors_issue_minute INCLUDING ALL) PARTITION BY RANGE (bucket);

-- The services and the end users of an issue, per day, with their first and last occurrence that day: a day that
-- has one of them inside a range has an occurrence in it; one that starts before and ends after the range is looked
-- up in the occurrences (the indexes below), which only a range inside one day can need. Distinct counts cannot be
-- summed, so these keep the values themselves.
CREATE TABLE errors_issue_service_day (
    organization_id bigint NOT NULL,
    project_id bigint NOT NULL,
    bucket timestamptz NOT NULL,
    fingerprint text NOT NULL,
    service_name text NOT NULL,
    first_seen timestamptz NOT NULL,
    last_seen timestamptz NOT NULL,
    PRIMARY KEY (organization_id, project_id, bucket, fingerprint, service_name)
) PARTITION BY RANGE (bucket);
CREATE TABLE errors_issue_user_day (
    organization_id bigint NOT NULL,
    project_id bigint NOT NULL,
    bucket timestamptz NOT NULL,
    fingerprint text NOT NULL,
    enduser_id text NOT NULL,
    first_seen timestamptz NOT NULL,
    last_seen timestamptz NOT NULL,
    PRIMARY KEY (organization_id, project_id, bucket, fingerprint, enduser_id)
) PARTITION BY RANGE (bucket);
CREATE INDEX errors_occurrence_service ON errors_occurrence (organization_id, project_id, fingerprint, service_name, time);
-- also GDPR erasure's: it finds the user's occurrences by enduser_id
CREATE INDEX errors_occurrence_user ON errors_occurrence (organization_id, project_id, enduser_id, fingerprint, time)
    WHERE enduser_id IS NOT NULL;
