-- Container allocation per interval (docs/cost-semantics.md): GPU = units (time slice 1/R, MIG g/slices)
-- x price; CPU and RAM = max(request, usage) x price; all x running share x interval hours. Requests and usage
-- are grouped in one pass (UNION ALL + GROUP BY, no join); only containers with request rows on a priced node
-- and running > 0 count.
CREATE OR REPLACE TEMP TABLE cm_ctr AS
WITH r AS (
    SELECT ts, namespace, pod, container, max(node) AS node,
           max(coalesce(running, 1.0)) FILTER (WHERE resource IS NOT NULL) AS running,
           sum(request) FILTER (WHERE resource = 'cpu') AS cpu_req,
           sum(request) FILTER (WHERE resource = 'memory') AS mem_req,
           sum(coalesce(request, "limit")) FILTER (WHERE resource = 'nvidia_com_gpu') AS gpu_req,
           sum(CASE WHEN resource LIKE 'nvidia_com_mig_%' THEN coalesce(request, "limit", 0)
                    * TRY_CAST(regexp_extract(resource, '^nvidia_com_mig_(\d+)g', 1) AS DOUBLE) END) AS mig_slices,
           max(cpu_cores) AS cpu_use, max(memory_bytes) AS mem_use
    FROM (
        SELECT ts, namespace, pod, container, node, resource, request, "limit", running,
               NULL::DOUBLE AS cpu_cores, NULL::DOUBLE AS memory_bytes
        FROM raw.container_requests WHERE ts >= $start AND ts < $end
        UNION ALL
        SELECT ts, namespace, pod, container, NULL, NULL, NULL, NULL, NULL, cpu_cores, memory_bytes
        FROM raw.container_usage WHERE ts >= $start AND ts < $end
    )
    GROUP BY ts, namespace, pod, container
    HAVING count(resource) > 0
), q AS (
    SELECT r.ts, r.namespace, r.pod, r.container, r.node, r.running * $dt AS h,
           coalesce(r.cpu_req, 0) AS cpu_req, coalesce(r.cpu_use, 0) AS cpu_use,
           coalesce(r.mem_req, 0) / 1073741824.0 AS ram_req, coalesce(r.mem_use, 0) / 1073741824.0 AS ram_use,
           coalesce(r.gpu_req, 0) / p.gpu_replicas + coalesce(r.mig_slices, 0) / p.mig_slices AS gpu_units,
           p.gpu_hourly, p.cpu_core_hourly, p.ram_gib_hourly
    FROM r JOIN cm_price p ON p.node = r.node
    WHERE r.running > 0
)
SELECT ts, namespace, pod, container, node, list_contains($shared::VARCHAR[], namespace) AS is_shared,
       gpu_units * h AS gpu_hours,
       greatest(cpu_req, cpu_use) * h AS cpu_core_hours, cpu_req * h AS cpu_request_core_hours,
       cpu_use * h AS cpu_usage_core_hours,
       greatest(ram_req, ram_use) * h AS ram_gib_hours, ram_req * h AS ram_request_gib_hours,
       ram_use * h AS ram_usage_gib_hours,
       gpu_units * h * gpu_hourly AS gpu_cost,
       greatest(cpu_req, cpu_use) * h * cpu_core_hourly AS cpu_cost,
       greatest(ram_req, ram_use) * h * ram_gib_hourly AS ram_cost
FROM q;
