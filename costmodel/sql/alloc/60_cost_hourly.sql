-- Hourly rows for containers, pod egress and node idle. Interval rows carry only numbers and a tag-set id
-- (tid); the allocation basis is applied with the per-interval coefficients (cm_k) inside the hourly sums,
-- and the strings are attached to the (much smaller) hourly result.
INSERT INTO mart.cost_hourly BY NAME
WITH x AS (
    SELECT date_trunc('hour', c.ts) AS hour, s.tid, c.cid, c.is_shared,
           c.gpu_hours, c.cpu_core_hours, c.cpu_request_core_hours, c.cpu_usage_core_hours, c.ram_gib_hours,
           c.ram_request_gib_hours, c.ram_usage_gib_hours, c.gpu_cost, c.cpu_cost, c.ram_cost,
           k.a_g * c.gpu_cost + k.b_g AS r_gpu, k.a_c * c.cpu_cost + k.b_c AS r_cpu,
           k.a_r * c.ram_cost + k.b_r AS r_ram, k.spread, k.sw, k.sn
    FROM cm_ctr c
    JOIN cm_seg s ON s.pid = c.pid AND s.nid = c.nid AND c.ts >= s.vf AND c.ts < s.vt
    JOIN cm_k k ON k.ts = c.ts
), y AS (
    SELECT hour, tid, cid,
           sum(gpu_hours) AS gpu_hours, sum(cpu_core_hours) AS cpu_core_hours,
           sum(cpu_request_core_hours) AS cpu_request_core_hours, sum(cpu_usage_core_hours) AS cpu_usage_core_hours,
           sum(ram_gib_hours) AS ram_gib_hours, sum(ram_request_gib_hours) AS ram_request_gib_hours,
           sum(ram_usage_gib_hours) AS ram_usage_gib_hours,
           sum(gpu_cost) AS gpu_cost, sum(cpu_cost) AS cpu_cost, sum(ram_cost) AS ram_cost,
           sum(r_gpu) AS idle_gpu_cost, sum(r_cpu) AS idle_cpu_cost, sum(r_ram) AS idle_ram_cost,
           sum(CASE WHEN NOT spread THEN 0
                    WHEN is_shared THEN -(gpu_cost + cpu_cost + ram_cost + r_gpu + r_cpu + r_ram)
                    ELSE sw * (gpu_cost + cpu_cost + ram_cost + r_gpu + r_cpu + r_ram) + sn END) AS shared_cost
    FROM x GROUP BY hour, tid, cid
), u AS (
    -- GPU-hours x measured utilisation (DCGM, averaged over the pod's GPUs), only for rows with GPUs
    SELECT date_trunc('hour', c.ts) AS hour, s.tid, c.cid, sum(c.gpu_hours * g.util) AS gpu_used_hours
    FROM (SELECT * FROM cm_ctr WHERE gpu_hours > 0) c
    JOIN (SELECT ts, d.pid, avg(util) AS util FROM raw.gpu_usage JOIN cm_pdim d USING (namespace, pod)
          WHERE ts >= $start AND ts < $end GROUP BY ALL) g ON g.ts = c.ts AND g.pid = c.pid
    JOIN cm_seg s ON s.pid = c.pid AND s.nid = c.nid AND c.ts >= s.vf AND c.ts < s.vt
    GROUP BY ALL
)
SELECT y.hour, 'container' AS kind, t.namespace, t.pod, d.container, t.node, t.node_pool, t.capacity_type,
       '' AS bucket, t.team, t.project, t.model, t.env, t.cost_center, t.job, t.is_shared,
       y.gpu_hours, coalesce(u.gpu_used_hours, 0) AS gpu_used_hours, y.cpu_core_hours, y.cpu_request_core_hours,
       y.cpu_usage_core_hours, y.ram_gib_hours, y.ram_request_gib_hours, y.ram_usage_gib_hours,
       0.0 AS tx_bytes, 0.0 AS storage_bytes, y.gpu_cost, y.cpu_cost, y.ram_cost, 0.0 AS egress_cost,
       0.0 AS storage_cost, y.idle_gpu_cost, y.idle_cpu_cost, y.idle_ram_cost, y.shared_cost,
       y.gpu_cost + y.cpu_cost + y.ram_cost AS usage_cost,
       y.gpu_cost + y.cpu_cost + y.ram_cost + y.idle_gpu_cost + y.idle_cpu_cost + y.idle_ram_cost + y.shared_cost
           AS allocation_cost
FROM y JOIN cm_tags t USING (tid) JOIN cm_cdim d USING (cid) LEFT JOIN u USING (hour, tid, cid);

INSERT INTO mart.cost_hourly BY NAME
WITH y AS (
    SELECT date_trunc('hour', w.ts) AS hour, s.tid, sum(coalesce(w.tx_bytes, 0)) AS tx_bytes,
           sum(CASE WHEN coalesce(k.spread, false) THEN coalesce(w.tx_bytes, 0) ELSE 0 END) AS spread_bytes
    FROM raw.pod_network w
    JOIN cm_pdim d USING (namespace, pod)
    JOIN cm_eseg s ON s.pid = d.pid AND w.ts >= s.vf AND w.ts < s.vt
    LEFT JOIN cm_k k ON k.ts = w.ts
    WHERE w.ts >= $start AND w.ts < $end
    GROUP BY ALL
)
SELECT y.hour, 'egress' AS kind, t.namespace, t.pod, '' AS container, t.node, t.node_pool, t.capacity_type,
       '' AS bucket, t.team, t.project, t.model, t.env, t.cost_center, t.job, t.is_shared,
       0.0 AS gpu_hours, 0.0 AS gpu_used_hours, 0.0 AS cpu_core_hours, 0.0 AS cpu_request_core_hours,
       0.0 AS cpu_usage_core_hours, 0.0 AS ram_gib_hours, 0.0 AS ram_request_gib_hours,
       0.0 AS ram_usage_gib_hours, y.tx_bytes, 0.0 AS storage_bytes, 0.0 AS gpu_cost, 0.0 AS cpu_cost,
       0.0 AS ram_cost, y.tx_bytes / 1073741824.0 * $egress_gib AS egress_cost, 0.0 AS storage_cost,
       0.0 AS idle_gpu_cost, 0.0 AS idle_cpu_cost, 0.0 AS idle_ram_cost,
       CASE WHEN t.is_shared THEN -y.spread_bytes / 1073741824.0 * $egress_gib ELSE 0 END AS shared_cost,
       y.tx_bytes / 1073741824.0 * $egress_gib AS usage_cost,
       y.tx_bytes / 1073741824.0 * $egress_gib
           + CASE WHEN t.is_shared THEN -y.spread_bytes / 1073741824.0 * $egress_gib ELSE 0 END AS allocation_cost
FROM y JOIN cm_tags t USING (tid);

INSERT INTO mart.cost_hourly BY NAME
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
