-- Integer surrogate keys, encoded once per window: pods (pid), containers (cid); nodes have `nid` in cm_price.
-- Interval rows then carry only integers and numbers; strings are attached after the hourly roll-up.
--
-- The request rows are scanned once, into runs (cm_rr): one row per container, node, resource and identical
-- (request, limit, running), with the run's first and last interval, its row count and the phase of its
-- timestamps on the interval grid. Requests rarely change, so a window's tens of millions of request rows
-- become a few runs per container; the keys come from the runs.
CREATE OR REPLACE TEMP TABLE cm_rr AS
SELECT namespace, pod, container, node, resource, request, "limit", coalesce(running, 1.0) AS run,
       min(ts) AS t0, max(ts) AS t1, count(*) AS n, min(epoch_us(ts) % ($step::BIGINT * 1000000)) AS phase_lo,
       max(epoch_us(ts) % ($step::BIGINT * 1000000)) AS phase_hi
FROM raw.container_requests WHERE ts >= $start AND ts < $end
GROUP BY ALL;

CREATE OR REPLACE TEMP TABLE cm_pdim AS
SELECT row_number() OVER (ORDER BY namespace, pod)::INTEGER AS pid, namespace, pod,
       list_contains($shared::VARCHAR[], namespace) AS is_shared
FROM (SELECT DISTINCT namespace, pod FROM cm_rr
      UNION SELECT DISTINCT namespace, pod FROM raw.pod_network WHERE ts >= $start AND ts < $end
      UNION SELECT DISTINCT namespace, pod FROM raw.inference WHERE ts >= $start AND ts < $end);

CREATE OR REPLACE TEMP TABLE cm_cdim AS
SELECT row_number() OVER (ORDER BY c.namespace, c.pod, c.container)::INTEGER AS cid, c.namespace, c.pod,
       c.container, p.pid, p.is_shared
FROM (SELECT DISTINCT namespace, pod, container FROM cm_rr) c JOIN cm_pdim p USING (namespace, pod);
