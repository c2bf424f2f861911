-- Node cost per interval: a node costs while it has capacity rows (its presence).
CREATE OR REPLACE TEMP TABLE cm_node_iv AS
WITH cap AS (
    SELECT ts, node,
           max(capacity) FILTER (WHERE resource = 'cpu') AS cores,
           max(capacity) FILTER (WHERE resource = 'memory') AS mem
    FROM raw.node_capacity
    WHERE ts >= $start AND ts < $end
    GROUP BY ts, node
)
SELECT cap.ts, p.nid, cap.node,
       p.gpus * $dt AS gpu_hours_capacity,
       p.gpus * p.gpu_hourly * $dt AS gpu_cost,
       coalesce(cap.cores, 0) * p.cpu_core_hourly * $dt AS cpu_cost,
       coalesce(cap.mem, 0) / 1073741824.0 * p.ram_gib_hourly * $dt AS ram_cost
FROM cap JOIN cm_price p USING (node);
