-- Ten-minute and six-hour RED and service-map rollups beside the minute and hour ones (compact_rollups.sql folds
-- deltas into all four). Readers sum the coarsest rows that fit a range (apps/tracing/queries.py, _rollup_totals):
-- an hour of the service map was ~18.7 k minute rows and 232 k packed histogram buckets at 10 M spans a day, a day
-- 7.5 k hour rows and 200 k buckets, and summing them costs PostgreSQL ~0.25 µs per bucket (bench/queries.py).
-- Buckets start at multiples of their length since the epoch: date_bin('10 minutes' or '6 hours', t, 'epoch').
CREATE TABLE tracing_red_tenmin (LIKE tracing_red_minute INCLUDING ALL) PARTITION BY RANGE (bucket);
CREATE TABLE tracing_red_sixhour (LIKE tracing_red_minute INCLUDING ALL) PARTITION BY RANGE (bucket);
CREATE TABLE tracing_edge_tenmin (LIKE tracing_edge_minute INCLUDING ALL) PARTITION BY RANGE (bucket);
CREATE TABLE tracing_edge_sixhour (LIKE tracing_edge_minute INCLUDING ALL) PARTITION BY RANGE (bucket);
