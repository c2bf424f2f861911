-- Storage per prefix / storage class / version state from one snapshot's objects.
-- Input: the relation _s3_objects(key, size, last_modified, storage_class, is_latest, is_delete_marker),
-- a view over inventory data files or a temp table filled from ListObjectsV2 pages (see reader.py).
-- Parameters (built in reader.aggregate):
--   $prefix_re      '^((?:[^/]*/){0,N})' — the first N folder segments, with trailing '/' ('' at the root);
--   $checkpoint_re  '(^|/)(checkpoint|ckpt|...)([-_.]?[0-9]+)?/' — a folder named like a checkpoint
--                   (checkpoints/, ckpt/, checkpoint-500/); file names never match;
--   $cutoff         objects under such a folder last modified before it are stale (snapshot - stale_after_days).
-- One regex per row and purpose keeps this at scan speed. Delete markers hold no bytes and are skipped.
WITH tagged AS (
    SELECT regexp_extract(key, $prefix_re, 1) AS prefix,
           coalesce(nullif(storage_class, ''), 'STANDARD') AS storage_class,
           is_latest,
           size,
           last_modified,
           is_latest AND last_modified < $cutoff AND regexp_matches(lower(key), $checkpoint_re) AS stale
    FROM _s3_objects
    WHERE NOT is_delete_marker
)
SELECT prefix,
       storage_class,
       is_latest,
       count(*)::BIGINT AS objects,
       coalesce(sum(size), 0)::BIGINT AS bytes,
       count(*) FILTER (WHERE stale)::BIGINT AS stale_objects,
       coalesce(sum(size) FILTER (WHERE stale), 0)::BIGINT AS stale_bytes,
       min(last_modified) AS oldest_modified
FROM tagged
GROUP BY ALL
ORDER BY ALL
