-- Integer surrogate keys, encoded once per window: pods (pid), containers (cid); nodes have `nid` in cm_price.
-- Interval rows then carry only integers and numbers; strings are attached after the hourly roll-up.
-- (The request rows are scanned once: pods come from the distinct containers plus egress / inference pods.)
CREATE OR REPLACE TEMP TABLE cm_c AS
SELECT DISTINCT namespace, pod, container FROM raw.container_requests WHERE ts >= $start AND ts < $end;

CREATE OR REPLACE TEMP TABLE cm_pdim AS
SELECT row_number() OVER (ORDER BY namespace, pod)::INTEGER AS pid, namespace, pod,
       list_contains($shared::VARCHAR[], namespace) AS is_shared
FROM (SELECT DISTINCT namespace, pod FROM cm_c
      UNION SELECT DISTINCT namespace, pod FROM raw.pod_network WHERE ts >= $start AND ts < $end
      UNION SELECT DISTINCT namespace, pod FROM raw.inference WHERE ts >= $start AND ts < $end);

CREATE OR REPLACE TEMP TABLE cm_cdim AS
SELECT row_number() OVER (ORDER BY c.namespace, c.pod, c.container)::INTEGER AS cid, c.namespace, c.pod,
       c.container, p.pid, p.is_shared
FROM cm_c c JOIN cm_pdim p USING (namespace, pod);

DROP TABLE cm_c;
