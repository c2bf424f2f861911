-- Storage per prefix / storage class / version state from one snapshot's objects.
-- Input: the relation _s3_objects(key, size, last_modified, storage_class, is_latest, is_delete_marker),
-- a view over inventory data files or a temp table filled from ListObjectsV2 pages (see reader.py).
-- Parameters: $depth (path segments kept in `prefix`), $patterns (lower-case checkpoint segment names),
-- $cutoff (objects last modified before it are stale when under a checkpoint-like folder).
-- A folder segment is checkpoint-like when it equals a pattern or is a pattern plus a step number
-- (checkpoint-500, ckpt_10); file names do not count. Delete markers hold no bytes and are skipped.
WITH objects AS (
    SELECT key, size, last_modified, storage_class, is_latest, string_split(key, '/') AS parts
    FROM _s3_objects
    WHERE NOT is_delete_marker
), tagged AS (
    SELECT *,
           CASE WHEN least($depth, len(parts) - 1) <= 0 THEN ''
                ELSE array_to_string(parts[1:least($depth, len(parts) - 1)], '/') || '/' END AS prefix,
           len(list_filter(parts[1:len(parts) - 1], lambda s: list_contains($patterns, lower(s))
               OR regexp_full_match(lower(s), '(' || array_to_string($patterns_re, '|') || ')[-_.]?[0-9]+'))
           ) > 0 AS under_checkpoint
    FROM objects
)
SELECT prefix,
       coalesce(nullif(storage_class, ''), 'STANDARD') AS storage_class,
       is_latest,
       count(*)::BIGINT AS objects,
       coalesce(sum(size), 0)::BIGINT AS bytes,
       count(*) FILTER (WHERE is_latest AND under_checkpoint AND last_modified < $cutoff)::BIGINT AS stale_objects,
       coalesce(sum(size) FILTER (WHERE is_latest AND under_checkpoint AND last_modified < $cutoff), 0)::BIGINT
           AS stale_bytes,
       min(last_modified) AS oldest_modified
FROM tagged
GROUP BY ALL
ORDER BY ALL
