-- One batch of log records: insert the new ones and count exactly those (a retried record is neither
-- stored nor counted twice). apps/logs/writers.py fills in the staging table, its columns, and the values: the
-- same columns with the body text lower-cased.
WITH ins AS (
    INSERT INTO logs_record ({columns}) SELECT {values} FROM {stage} ORDER BY time, record_id
    ON CONFLICT DO NOTHING
    RETURNING organization_id, project_id, time, service_name, severity_number
), counted AS (
    INSERT INTO logs_count_minute AS c
    SELECT organization_id, project_id, date_trunc('minute', time), service_name,
           CASE WHEN severity_number BETWEEN 1 AND 24 THEN ((severity_number - 1) / 4) * 4 + 1 ELSE 0 END,
           count(*)
    FROM ins GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (organization_id, project_id, bucket, service_name, severity) DO UPDATE SET
        record_count = c.record_count + excluded.record_count
)
SELECT count(*) FROM ins
