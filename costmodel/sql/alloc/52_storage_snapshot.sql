-- The newest snapshot of every bucket (by prefix and class), priced, with the bucket's tags. Buckets listed
-- only in raw.s3_snapshot (no per-class rows) count as STANDARD.
CREATE OR REPLACE TEMP TABLE cm_storage AS
WITH newest AS (
    SELECT bucket, max(snapshot_at) AS snap FROM raw.s3_snapshot GROUP BY bucket
    UNION
    SELECT bucket, max(snapshot_at) FROM raw.s3_storage
    WHERE bucket NOT IN (SELECT bucket FROM raw.s3_snapshot) GROUP BY bucket
), rows AS (
    SELECT s.bucket, s.snapshot_at, s.prefix, upper(s.storage_class) AS storage_class, s.is_latest, s.bytes,
           s.stale_bytes
    FROM raw.s3_storage s JOIN newest n ON s.bucket = n.bucket AND s.snapshot_at = n.snap
    UNION ALL
    SELECT s.bucket, s.snapshot_at, '', 'STANDARD', true, s.bytes, 0
    FROM raw.s3_snapshot s JOIN newest n ON s.bucket = n.bucket AND s.snapshot_at = n.snap
    WHERE NOT EXISTS (SELECT 1 FROM raw.s3_storage x WHERE x.bucket = s.bucket AND x.snapshot_at = s.snapshot_at)
), tags AS (
    SELECT bucket,
           max(nullif(value, '')) FILTER (WHERE cm_sanitize(key) = $k_team) AS team,
           max(nullif(value, '')) FILTER (WHERE cm_sanitize(key) = $k_project) AS project,
           max(nullif(value, '')) FILTER (WHERE cm_sanitize(key) = $k_model) AS model,
           max(nullif(value, '')) FILTER (WHERE cm_sanitize(key) = $k_env) AS env,
           max(nullif(value, '')) FILTER (WHERE cm_sanitize(key) = $k_cost_center) AS cost_center
    FROM raw.s3_bucket_tags GROUP BY bucket
)
SELECT r.*, coalesce(sp.gib_month, std.gib_month) AS gib_month,
       r.bytes / 1073741824.0 * coalesce(sp.gib_month, std.gib_month) AS monthly_cost,
       coalesce(t.team, '__unallocated__') AS team, coalesce(t.project, '__unallocated__') AS project,
       coalesce(t.model, '__unallocated__') AS model, coalesce(t.env, '__unallocated__') AS env,
       coalesce(t.cost_center, '__unallocated__') AS cost_center
FROM rows r
LEFT JOIN cm_storage_price sp ON sp.class = r.storage_class
CROSS JOIN (SELECT gib_month FROM cm_storage_price WHERE class = 'STANDARD') std
LEFT JOIN tags t ON t.bucket = r.bucket;
