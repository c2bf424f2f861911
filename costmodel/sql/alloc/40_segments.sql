-- Tags, resolved once per pod, node and metadata segment (not per interval): pod label > namespace label >
-- node label > __unallocated__. Boundaries are every version edge of the pod, its namespace and its node; a
-- segment's tag set gets an id (`tid`, shared by segments with equal tags), so interval rows only need an
-- integer hash join on (pid, nid) with a range check, and the roll-ups group by small integers.
CREATE OR REPLACE TEMP TABLE cm_pn AS
-- every (pod, node) with container costs in the window; pods with only egress / inference rows get their
-- latest metadata version's node
WITH c AS (SELECT DISTINCT pid, nid FROM cm_ctr),
o AS (SELECT pid FROM cm_pdim ANTI JOIN c USING (pid))
SELECT c.pid, d.namespace, d.pod, p.node, d.is_shared FROM c JOIN cm_pdim d USING (pid) JOIN cm_price p USING (nid)
UNION ALL
SELECT o.pid, d.namespace, d.pod,
       coalesce((SELECT arg_max(v.node, v.vt) FROM cm_pod_v v WHERE v.namespace = d.namespace AND v.pod = d.pod), '')
           AS node,
       d.is_shared
FROM o JOIN cm_pdim d USING (pid);

CREATE OR REPLACE TEMP TABLE cm_seg AS
WITH b AS (
    SELECT DISTINCT pid, namespace, pod, node, is_shared, t FROM (
        SELECT *, '-infinity'::TIMESTAMP AS t FROM cm_pn
        UNION ALL SELECT *, 'infinity'::TIMESTAMP FROM cm_pn
        UNION ALL SELECT x.*, unnest([v.vf, v.vt]) FROM cm_pn x JOIN cm_pod_v v USING (namespace, pod)
        UNION ALL SELECT x.*, unnest([v.vf, v.vt]) FROM cm_pn x JOIN cm_ns_v v USING (namespace)
        UNION ALL SELECT x.*, unnest([v.vf, v.vt]) FROM cm_pn x JOIN cm_node_v v USING (node))
), s AS (
    SELECT *, lead(t) OVER (PARTITION BY pid, node ORDER BY t) AS e FROM b
), r AS (
    SELECT s.pid, pr.nid, s.namespace, s.pod, s.node, s.is_shared, s.t AS vf, s.e AS vt,
           coalesce(pr.node_pool, '__unallocated__') AS node_pool, coalesce(pr.capacity_type, '') AS capacity_type,
           coalesce(p.team, n.team, d.team, '__unallocated__') AS team,
           coalesce(p.project, n.project, d.project, '__unallocated__') AS project,
           coalesce(p.model, n.model, d.model, '__unallocated__') AS model,
           coalesce(p.env, n.env, d.env, '__unallocated__') AS env,
           coalesce(p.cost_center, n.cost_center, d.cost_center, '__unallocated__') AS cost_center,
           coalesce(p.job, '') AS job
    FROM s
    LEFT JOIN cm_pod_v p ON p.namespace = s.namespace AND p.pod = s.pod AND p.vf <= s.t AND p.vt >= s.e
    LEFT JOIN cm_ns_v n ON n.namespace = s.namespace AND n.vf <= s.t AND n.vt >= s.e
    LEFT JOIN cm_node_v d ON d.node = s.node AND d.vf <= s.t AND d.vt >= s.e
    LEFT JOIN cm_price pr ON pr.node = s.node
    WHERE s.e IS NOT NULL
)
SELECT *, dense_rank() OVER (ORDER BY namespace, pod, node, node_pool, capacity_type, team, project, model, env,
                                      cost_center, job)::INTEGER AS tid
FROM r;

CREATE OR REPLACE TEMP TABLE cm_tags AS
SELECT DISTINCT tid, namespace, pod, node, node_pool, capacity_type, team, project, model, env, cost_center, job,
       is_shared
FROM cm_seg;

-- egress and inference rows are per pod: the segments of the pod's (greatest) node
CREATE OR REPLACE TEMP TABLE cm_eseg AS
SELECT s.pid, s.vf, s.vt, s.tid FROM cm_seg s
JOIN (SELECT pid, max(node) AS node FROM cm_pn GROUP BY pid) m USING (pid, node);
