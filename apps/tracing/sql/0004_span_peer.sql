-- The dependency a client or producer span calls (a database, cache, queue or host) and its kind, computed
-- at ingest by apps/tracing/writers.py (peer_of) and stored, so that the writer rolls edges up in Python and
-- GDPR erasure subtracts exactly what was counted. Spans stored before get the same values from SQL here.
ALTER TABLE tracing_span ADD COLUMN peer text, ADD COLUMN peer_kind text;

UPDATE tracing_span SET
    peer = coalesce(db_system || coalesce(':' || coalesce(attributes->>'db.namespace', attributes->>'db.name'), ''),
                    attributes->>'messaging.system' || coalesce(':' || (attributes->>'messaging.destination.name'), ''),
                    attributes->>'server.address', attributes->>'net.peer.name'),
    peer_kind = CASE WHEN db_system IN ('redis', 'memcached', 'valkey') THEN 'cache'
                     WHEN db_system IS NOT NULL THEN 'database'
                     WHEN attributes->>'messaging.system' IS NOT NULL THEN 'queue' ELSE 'external' END
WHERE kind IN (3, 4);
UPDATE tracing_span SET peer_kind = NULL WHERE peer IS NULL AND peer_kind IS NOT NULL;
