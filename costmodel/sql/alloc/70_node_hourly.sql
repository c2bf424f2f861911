-- Per node and hour: node cost, allocated, idle (clamped at 0) and overrun per resource. A container on a node
-- without capacity rows in that interval counts as overrun (node cost 0).
INSERT INTO model.node_hourly BY NAME
WITH v AS (
    SELECT date_trunc('hour', coalesce(n.ts, a.ts)) AS hour, coalesce(n.nid, a.nid) AS nid,
           coalesce(n.gpu_cost, 0) AS gpu_cost, coalesce(n.cpu_cost, 0) AS cpu_cost,
           coalesce(n.ram_cost, 0) AS ram_cost, coalesce(a.a_gpu, 0) AS alloc_gpu_cost,
           coalesce(a.a_cpu, 0) AS alloc_cpu_cost, coalesce(a.a_ram, 0) AS alloc_ram_cost,
           coalesce(n.gpu_hours_capacity, 0) AS gpu_hours_capacity, coalesce(a.a_gh, 0) AS gpu_hours_allocated
    FROM cm_node_iv n FULL JOIN cm_na a ON a.ts = n.ts AND a.nid = n.nid
), x AS (
    SELECT *, greatest(gpu_cost - alloc_gpu_cost, 0) AS idle_gpu_cost,
           greatest(cpu_cost - alloc_cpu_cost, 0) AS idle_cpu_cost,
           greatest(ram_cost - alloc_ram_cost, 0) AS idle_ram_cost,
           greatest(alloc_gpu_cost - gpu_cost, 0) + greatest(alloc_cpu_cost - cpu_cost, 0)
               + greatest(alloc_ram_cost - ram_cost, 0) AS overrun_cost
    FROM v
), y AS (
    -- roll-up to hours (dropped when intervals are hours, allocate._ROLLUP)
    SELECT hour, nid, sum(COLUMNS(* EXCLUDE (hour, nid))) FROM x GROUP BY hour, nid
)
SELECT y.* EXCLUDE (nid), p.node, p.node_pool, p.capacity_type FROM y JOIN cm_price p USING (nid)
