-- The small row kinds (node idle, object storage, persistent volumes) are built with their strings into
-- cm_small (the columns of mart.cost_hourly); 62_cost_fact.sql stores them against mart.cost_dim. The big
-- kinds (container, egress) never carry strings per row: see 57_dims.sql.
CREATE OR REPLACE TEMP TABLE cm_small AS SELECT * FROM mart.cost_hourly LIMIT 0;
-- only volume rows fill these (a CTAS keeps no defaults): every kind's INSERT BY NAME then leaves no NULLs
ALTER TABLE cm_small ALTER COLUMN pvc SET DEFAULT '';
ALTER TABLE cm_small ALTER COLUMN volume_cost SET DEFAULT 0.0;
ALTER TABLE cm_small ALTER COLUMN volume_gib_hours SET DEFAULT 0.0;

-- Node idle per hour: the idle amount, and as allocation cost what was not spread to allocations.
INSERT INTO cm_small BY NAME
WITH y AS (
    SELECT date_trunc('hour', i.ts) AS hour, i.nid, sum(i.i_gpu) AS i_gpu, sum(i.i_cpu) AS i_cpu,
           sum(i.i_ram) AS i_ram,
           -- the idle this node gave to allocations (negative)
           -sum(CASE WHEN k.sp_g THEN i.i_gpu ELSE 0 END + CASE WHEN k.sp_c THEN i.i_cpu ELSE 0 END
                + CASE WHEN k.sp_r THEN i.i_ram ELSE 0 END) AS given
    FROM cm_ni i JOIN cm_k k USING (ts) GROUP BY ALL
)
SELECT y.hour, 'idle' AS kind, '' AS namespace, '' AS pod, '' AS container, p.node,
       coalesce(p.node_pool, '__unallocated__') AS node_pool, coalesce(p.capacity_type, '') AS capacity_type,
       '' AS bucket, '__idle__' AS team, '__idle__' AS project, '__idle__' AS model, '__idle__' AS env,
       '__idle__' AS cost_center, '' AS job, false AS is_shared,
       0.0 AS gpu_hours, 0.0 AS gpu_used_hours, 0.0 AS cpu_core_hours, 0.0 AS cpu_request_core_hours,
       0.0 AS cpu_usage_core_hours, 0.0 AS ram_gib_hours, 0.0 AS ram_request_gib_hours,
       0.0 AS ram_usage_gib_hours, 0.0 AS tx_bytes, 0.0 AS storage_bytes, 0.0 AS gpu_cost, 0.0 AS cpu_cost,
       0.0 AS ram_cost, 0.0 AS egress_cost, 0.0 AS storage_cost,
       y.i_gpu AS idle_gpu_cost, y.i_cpu AS idle_cpu_cost, y.i_ram AS idle_ram_cost, 0.0 AS shared_cost,
       y.i_gpu + y.i_cpu + y.i_ram AS usage_cost, y.i_gpu + y.i_cpu + y.i_ram + y.given AS allocation_cost
FROM y JOIN cm_price p USING (nid);
