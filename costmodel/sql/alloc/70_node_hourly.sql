INSERT INTO model.node_hourly BY NAME
-- a container on a node without capacity rows in that interval counts as overrun (node cost 0)
SELECT date_trunc('hour', coalesce(n.ts, a.ts)) AS hour, any_value(p.node) AS node,
       any_value(p.node_pool) AS node_pool,
       any_value(p.capacity_type) AS capacity_type,
       sum(coalesce(n.gpu_cost, 0)) AS gpu_cost, sum(coalesce(n.cpu_cost, 0)) AS cpu_cost,
       sum(coalesce(n.ram_cost, 0)) AS ram_cost,
       sum(coalesce(a.a_gpu, 0)) AS alloc_gpu_cost, sum(coalesce(a.a_cpu, 0)) AS alloc_cpu_cost,
       sum(coalesce(a.a_ram, 0)) AS alloc_ram_cost,
       sum(greatest(coalesce(n.gpu_cost, 0) - coalesce(a.a_gpu, 0), 0)) AS idle_gpu_cost,
       sum(greatest(coalesce(n.cpu_cost, 0) - coalesce(a.a_cpu, 0), 0)) AS idle_cpu_cost,
       sum(greatest(coalesce(n.ram_cost, 0) - coalesce(a.a_ram, 0), 0)) AS idle_ram_cost,
       sum(greatest(coalesce(a.a_gpu, 0) - coalesce(n.gpu_cost, 0), 0)
           + greatest(coalesce(a.a_cpu, 0) - coalesce(n.cpu_cost, 0), 0)
           + greatest(coalesce(a.a_ram, 0) - coalesce(n.ram_cost, 0), 0)) AS overrun_cost,
       sum(coalesce(n.gpu_hours_capacity, 0)) AS gpu_hours_capacity, sum(coalesce(a.a_gh, 0)) AS gpu_hours_allocated
FROM cm_node_iv n FULL JOIN cm_na a ON a.ts = n.ts AND a.nid = n.nid
JOIN cm_price p ON p.nid = coalesce(n.nid, a.nid)
GROUP BY 1, p.nid;
