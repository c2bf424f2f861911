-- Container allocation per interval (docs/cost-semantics.md): GPU = units (time slice 1/R, MIG g/slices)
-- x price; CPU and RAM = max(request, usage) x price; all x running share x interval hours. Request and usage
-- rows are keyed by integers and grouped in one pass (UNION ALL + GROUP BY, no join of the two); only
-- containers with request rows on a priced node and running > 0 count.
CREATE OR REPLACE TEMP TABLE cm_ctr AS
WITH j AS (
    SELECT r.ts, d.cid, p.nid, coalesce(r.running, 1.0) AS run,
           CASE r.resource WHEN 'cpu' THEN coalesce(r.request, 0) END AS cpu_req,
           CASE r.resource WHEN 'memory' THEN coalesce(r.request, 0) END AS mem_req,
           CASE WHEN r.resource = 'nvidia_com_gpu' THEN coalesce(r.request, r."limit", 0) / p.gpu_replicas
                WHEN r.resource LIKE 'nvidia_com_mig_%'
                    THEN coalesce(r.request, r."limit", 0)
                         * TRY_CAST(regexp_extract(r.resource, '^nvidia_com_mig_(\d+)g', 1) AS DOUBLE) / p.mig_slices
                END AS gpu_units
    FROM raw.container_requests r
    JOIN cm_cdim d USING (namespace, pod, container)
    JOIN cm_price p ON p.node = r.node
    WHERE r.ts >= $start AND r.ts < $end
), g AS (
    SELECT ts, cid, any_value(nid) AS nid, max(run) AS run, sum(cpu_req) AS cpu_req, sum(mem_req) AS mem_req,
           sum(gpu_units) AS gpu_units
    FROM j GROUP BY ts, cid
), r AS (
    SELECT g.*, u.cpu_cores AS cpu_use, u.memory_bytes AS mem_use
    FROM g LEFT JOIN (SELECT u.ts, d.cid, u.cpu_cores, u.memory_bytes FROM raw.container_usage u
                      JOIN cm_cdim d USING (namespace, pod, container)
                      WHERE u.ts >= $start AND u.ts < $end) u ON u.ts = g.ts AND u.cid = g.cid
), q AS (
    SELECT r.ts, r.cid, d.pid, r.nid, d.is_shared, r.run * $dt AS h,
           coalesce(r.cpu_req, 0) AS cpu_req, coalesce(r.cpu_use, 0) AS cpu_use,
           coalesce(r.mem_req, 0) / 1073741824.0 AS ram_req, coalesce(r.mem_use, 0) / 1073741824.0 AS ram_use,
           coalesce(r.gpu_units, 0) AS gpu_units, p.gpu_hourly, p.cpu_core_hourly, p.ram_gib_hourly
    FROM r JOIN cm_price p USING (nid) JOIN cm_cdim d USING (cid)
    WHERE r.run > 0
)
SELECT ts, cid, pid, nid, is_shared,
       gpu_units * h AS gpu_hours,
       greatest(cpu_req, cpu_use) * h AS cpu_core_hours, cpu_req * h AS cpu_request_core_hours,
       cpu_use * h AS cpu_usage_core_hours,
       greatest(ram_req, ram_use) * h AS ram_gib_hours, ram_req * h AS ram_request_gib_hours,
       ram_use * h AS ram_usage_gib_hours,
       gpu_units * h * gpu_hourly AS gpu_cost,
       greatest(cpu_req, cpu_use) * h * cpu_core_hourly AS cpu_cost,
       greatest(ram_req, ram_use) * h * ram_gib_hourly AS ram_cost
FROM q;
