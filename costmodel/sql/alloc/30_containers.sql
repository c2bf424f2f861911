-- Container allocation per interval (docs/cost-semantics.md): GPU = units (time slice 1/R, MIG g/slices)
-- x price; CPU and RAM = max(request, usage) x price; all x running share x interval hours. Only containers
-- with request rows on a priced node and running > 0 count; usage only where there are requests.
--
-- Segments (cm_cseg): a container's request runs (25_keys.sql) on a priced node, pivoted to cpu / memory / GPU
-- columns per (node, running, first, last, count). A container is `clean` when each of its segments covers
-- every interval of its span on one grid phase and its segments do not overlap: then each interval of a
-- segment has exactly that segment's requests. Clean containers (nearly all) take their usage rows through a
-- join on (cid, interval inside the segment) against a few thousand segments, instead of merging request rows
-- per (interval, container) in a hash aggregation over the whole window and joining the usage to that; their
-- intervals without a usage row are generated from the segment. The others take the per-interval path.
CREATE OR REPLACE TEMP TABLE cm_cseg AS
WITH s AS (
    SELECT d.cid, p.nid, r.run, r.t0, r.t1, r.n,
           bool_and(r.phase_lo = r.phase_hi) AS on_grid,
           sum(CASE r.resource WHEN 'cpu' THEN coalesce(r.request, 0) END) AS cpu_req,
           sum(CASE r.resource WHEN 'memory' THEN coalesce(r.request, 0) END) AS mem_req,
           sum(cm_gpu_units(r.resource, r.request, r."limit", p.gpu_replicas, p.mig_slices)) AS gpu_units
    FROM cm_rr r JOIN cm_cdim d USING (namespace, pod, container) JOIN cm_price p ON p.node = r.node
    GROUP BY d.cid, p.nid, r.run, r.t0, r.t1, r.n
), o AS (
    SELECT *, max(t1) OVER (PARTITION BY cid ORDER BY t0, t1 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                  AS prev_t1
    FROM s
)
SELECT row_number() OVER ()::INTEGER AS sid, cid, nid, run, t0, t1, n, cpu_req, mem_req, gpu_units,
       bool_and(on_grid AND epoch_us(t1) - epoch_us(t0) = (n - 1) * $step::BIGINT * 1000000
                AND coalesce(prev_t1 < t0, true)) OVER (PARTITION BY cid) AS clean
FROM o;

-- every usage row of the window with its container key and, for a clean container, the segment it falls in on
-- the segment's grid (sid; NULL for a container that is not clean, or a row outside its segments or off
-- their grid). The raw tables' unique keys allow at most one usage row per (interval, container).
CREATE OR REPLACE TEMP TABLE cm_um AS
SELECT u.ts, d.cid, s.sid, u.cpu_cores AS cpu_use, u.memory_bytes AS mem_use
FROM raw.container_usage u
JOIN cm_cdim d USING (namespace, pod, container)
LEFT JOIN cm_cseg s ON s.cid = d.cid AND s.clean AND u.ts >= s.t0 AND u.ts <= s.t1
                       AND (epoch_us(u.ts) - epoch_us(s.t0)) % ($step::BIGINT * 1000000) = 0
WHERE u.ts >= $start AND u.ts < $end;

CREATE OR REPLACE TEMP TABLE cm_ctr AS
WITH gap AS (
    -- clean segments with intervals that have no usage row
    SELECT s.* FROM cm_cseg s
    LEFT JOIN (SELECT sid, count(*) AS k FROM cm_um WHERE sid IS NOT NULL GROUP BY sid) m USING (sid)
    WHERE s.clean AND s.n > coalesce(m.k, 0)
), per_interval AS (
    -- containers that are not clean: request rows merged per (interval, container)
    SELECT r.ts, d.cid, any_value(p.nid) AS nid, max(coalesce(r.running, 1.0)) AS run,
           sum(CASE r.resource WHEN 'cpu' THEN coalesce(r.request, 0) END) AS cpu_req,
           sum(CASE r.resource WHEN 'memory' THEN coalesce(r.request, 0) END) AS mem_req,
           sum(cm_gpu_units(r.resource, r.request, r."limit", p.gpu_replicas, p.mig_slices)) AS gpu_units
    FROM raw.container_requests r
    JOIN (SELECT * FROM cm_cdim SEMI JOIN (SELECT cid FROM cm_cseg WHERE NOT clean) x USING (cid)) d
        USING (namespace, pod, container)
    JOIN cm_price p ON p.node = r.node
    WHERE r.ts >= $start AND r.ts < $end
    GROUP BY r.ts, d.cid
), r AS (
    SELECT u.ts, s.cid, s.nid, s.run, s.cpu_req, s.mem_req, s.gpu_units, u.cpu_use, u.mem_use
    FROM cm_um u JOIN cm_cseg s USING (sid)
    UNION ALL
    SELECT g.ts, g.cid, g.nid, g.run, g.cpu_req, g.mem_req, g.gpu_units, NULL, NULL
    FROM (SELECT unnest(range(t0, t1 + to_seconds($step), to_seconds($step))) AS ts, sid, cid, nid, run, cpu_req,
                 mem_req, gpu_units FROM gap) g
    ANTI JOIN (SELECT ts, sid FROM cm_um SEMI JOIN gap USING (sid)) u ON u.ts = g.ts AND u.sid = g.sid
    UNION ALL
    SELECT g.*, u.cpu_use, u.mem_use FROM per_interval g
    LEFT JOIN (SELECT * FROM cm_um WHERE sid IS NULL) u ON u.ts = g.ts AND u.cid = g.cid
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

DROP TABLE cm_um;
DROP TABLE cm_rr
