-- Hourly fact rows for containers, pod egress, node idle and the small kinds. Interval rows carry only numbers
-- and a tag-set id (tid); the allocation basis is applied with the per-interval coefficients (cm_k) inside the hourly
-- sums, and each hourly row refers to its strings by dim_id (cm_dmap, 60_dims.sql).
INSERT INTO mart.cost_fact_container BY NAME
WITH g AS (
    -- measured GPU utilisation (DCGM, averaged over the pod's GPUs) per pod and interval
    SELECT ts, d.pid, avg(util) AS util FROM raw.gpu_usage JOIN cm_pdim d USING (namespace, pod)
    WHERE ts >= $start AND ts < $end GROUP BY ALL
), x AS (
    -- per container and interval, every column of the hourly row (the roll-up below only sums)
    SELECT date_trunc('hour', c.ts) AS hour, s.tid, c.cid,
           c.gpu_hours, c.gpu_hours * coalesce(g.util, 0) AS gpu_used_hours, c.cpu_core_hours,
           c.cpu_request_core_hours, c.cpu_usage_core_hours, c.ram_gib_hours, c.ram_request_gib_hours,
           c.ram_usage_gib_hours, c.gpu_cost, c.cpu_cost, c.ram_cost,
           k.a_g * c.gpu_cost + k.b_g AS idle_gpu_cost, k.a_c * c.cpu_cost + k.b_c AS idle_cpu_cost,
           k.a_r * c.ram_cost + k.b_r AS idle_ram_cost,
           CASE WHEN NOT k.spread THEN 0
                WHEN c.is_shared THEN -(c.gpu_cost + c.cpu_cost + c.ram_cost + idle_gpu_cost + idle_cpu_cost
                                        + idle_ram_cost)
                ELSE k.sw * (c.gpu_cost + c.cpu_cost + c.ram_cost + idle_gpu_cost + idle_cpu_cost + idle_ram_cost)
                     + k.sn END AS shared_cost
    FROM cm_ctr c
    JOIN cm_seg s ON s.pid = c.pid AND s.nid = c.nid AND c.ts >= s.vf AND c.ts < s.vt
    JOIN cm_k k ON k.ts = c.ts
    LEFT JOIN g ON g.ts = c.ts AND g.pid = c.pid
), y AS (
    -- roll-up to hours (the identity when intervals are hours: allocate.py then reads x directly)
    SELECT hour, tid, cid, sum(COLUMNS(* EXCLUDE (hour, tid, cid))) FROM x GROUP BY hour, tid, cid
)
SELECT y.* EXCLUDE (tid, cid), m.dim_id
FROM y JOIN cm_dmap m ON m.tid = y.tid AND m.cid = y.cid;

INSERT INTO mart.cost_fact_egress BY NAME
WITH x AS (
    SELECT date_trunc('hour', w.ts) AS hour, s.tid, coalesce(w.tx_bytes, 0) AS tx_bytes,
           CASE WHEN coalesce(k.spread, false) THEN coalesce(w.tx_bytes, 0) ELSE 0 END AS spread_bytes
    FROM raw.pod_network w
    JOIN cm_pdim d USING (namespace, pod)
    JOIN cm_eseg s ON s.pid = d.pid AND w.ts >= s.vf AND w.ts < s.vt
    LEFT JOIN cm_k k ON k.ts = w.ts
    WHERE w.ts >= $start AND w.ts < $end
), y AS (
    SELECT hour, tid, sum(COLUMNS(* EXCLUDE (hour, tid))) FROM x GROUP BY hour, tid
)
SELECT y.hour, m.dim_id, y.tx_bytes, y.tx_bytes / 1073741824.0 * $egress_gib AS egress_cost,
       CASE WHEN t.is_shared THEN -y.spread_bytes / 1073741824.0 * $egress_gib ELSE 0 END AS shared_cost
FROM y JOIN cm_tags t USING (tid) JOIN cm_dmap m ON m.tid = y.tid AND m.cid = 0;

-- node idle: what the node gave to allocations is not its allocation cost (the other columns default to 0)
INSERT INTO mart.cost_fact_other BY NAME
SELECT i.hour, 'idle' AS kind, m.dim_id, i.i_gpu AS idle_gpu_cost, i.i_cpu AS idle_cpu_cost, i.i_ram AS idle_ram_cost,
       i.i_gpu + i.i_cpu + i.i_ram AS usage_cost, i.i_gpu + i.i_cpu + i.i_ram + i.given AS allocation_cost
FROM cm_idle i JOIN cm_dmap m USING (nid);

INSERT INTO mart.cost_fact_other BY NAME
SELECT s.* EXCLUDE (namespace, pod, container, node, node_pool, capacity_type, bucket, team, project, model, env,
                    cost_center, job, is_shared, pvc), d.dim_id
FROM cm_small s
JOIN mart.cost_dim d USING (namespace, pod, container, node, node_pool, capacity_type, bucket, team, project,
                            model, env, cost_center, job, is_shared, pvc);
