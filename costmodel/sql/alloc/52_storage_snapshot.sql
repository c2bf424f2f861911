-- The newest snapshot of every bucket (by prefix and class), priced, with its tags: per tag, the longest
-- `costmodel.storage_tags` rule covering the row's prefix that sets it (cm_storage_rule), else the bucket's own
-- tag. Buckets listed only in raw.s3_snapshot (no per-class rows) count as STANDARD.
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
           arg_min(value, list_position($k_team, cm_sanitize(key)))
               FILTER (WHERE list_contains($k_team, cm_sanitize(key)) AND value <> '') AS team,
           arg_min(value, list_position($k_project, cm_sanitize(key)))
               FILTER (WHERE list_contains($k_project, cm_sanitize(key)) AND value <> '') AS project,
           arg_min(value, list_position($k_model, cm_sanitize(key)))
               FILTER (WHERE list_contains($k_model, cm_sanitize(key)) AND value <> '') AS model,
           arg_min(value, list_position($k_env, cm_sanitize(key)))
               FILTER (WHERE list_contains($k_env, cm_sanitize(key)) AND value <> '') AS env,
           arg_min(value, list_position($k_cost_center, cm_sanitize(key)))
               FILTER (WHERE list_contains($k_cost_center, cm_sanitize(key)) AND value <> '') AS cost_center
    FROM raw.s3_bucket_tags GROUP BY bucket
), rule AS (
    SELECT r.bucket, r.prefix,
           arg_max(x.team, length(x.prefix)) FILTER (WHERE x.team IS NOT NULL) AS team,
           arg_max(x.project, length(x.prefix)) FILTER (WHERE x.project IS NOT NULL) AS project,
           arg_max(x.model, length(x.prefix)) FILTER (WHERE x.model IS NOT NULL) AS model,
           arg_max(x.env, length(x.prefix)) FILTER (WHERE x.env IS NOT NULL) AS env,
           arg_max(x.cost_center, length(x.prefix)) FILTER (WHERE x.cost_center IS NOT NULL) AS cost_center
    FROM (SELECT DISTINCT bucket, prefix FROM rows) r
    JOIN cm_storage_rule x ON x.bucket = r.bucket AND starts_with(r.prefix, x.prefix)
    GROUP BY r.bucket, r.prefix
)
SELECT r.*, coalesce(sp.gib_month, std.gib_month) AS gib_month,
       r.bytes / 1073741824.0 * coalesce(sp.gib_month, std.gib_month) AS monthly_cost,
       coalesce(u.team, t.team, '__unallocated__') AS team, coalesce(u.project, t.project, '__unallocated__') AS project,
       coalesce(u.model, t.model, '__unallocated__') AS model, coalesce(u.env, t.env, '__unallocated__') AS env,
       coalesce(u.cost_center, t.cost_center, '__unallocated__') AS cost_center
FROM rows r
LEFT JOIN cm_storage_price sp ON sp.class = r.storage_class
CROSS JOIN (SELECT gib_month FROM cm_storage_price WHERE class = 'STANDARD') std
LEFT JOIN tags t ON t.bucket = r.bucket
LEFT JOIN rule u ON u.bucket = r.bucket AND u.prefix = r.prefix;
