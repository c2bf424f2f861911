-- Object storage: each bucket's bytes from its newest snapshot, held constant over the window, priced by
-- storage class ($/GiB-month, a month = 730 h), attributed by the tags of each prefix (52_). No idle.
INSERT INTO cm_small BY NAME
WITH b AS (
    SELECT bucket, team, project, model, env, cost_center, sum(bytes) AS bytes,
           sum(bytes / 1073741824.0 * gib_month) AS gib_month_cost
    FROM cm_storage GROUP BY ALL
), h AS (
    SELECT unnest(generate_series($start, $end - INTERVAL 1 HOUR, INTERVAL 1 HOUR)) AS hour
)
SELECT h.hour, 'storage' AS kind, '__unallocated__' AS namespace, '' AS pod, '' AS container, '' AS node,
       '__unallocated__' AS node_pool, '' AS capacity_type, b.bucket,
       b.team, b.project, b.model, b.env, b.cost_center, '' AS job, false AS is_shared,
       0.0 AS gpu_hours, 0.0 AS gpu_used_hours, 0.0 AS cpu_core_hours, 0.0 AS cpu_request_core_hours,
       0.0 AS cpu_usage_core_hours, 0.0 AS ram_gib_hours, 0.0 AS ram_request_gib_hours,
       0.0 AS ram_usage_gib_hours, 0.0 AS tx_bytes, b.bytes::DOUBLE AS storage_bytes,
       0.0 AS gpu_cost, 0.0 AS cpu_cost, 0.0 AS ram_cost, 0.0 AS egress_cost,
       b.gib_month_cost / 730.0 AS storage_cost, 0.0 AS idle_gpu_cost, 0.0 AS idle_cpu_cost,
       0.0 AS idle_ram_cost, 0.0 AS shared_cost,
       b.gib_month_cost / 730.0 AS usage_cost, b.gib_month_cost / 730.0 AS allocation_cost
FROM b CROSS JOIN h;
