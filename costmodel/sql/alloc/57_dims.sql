-- The string combinations this chunk allocates to (mart.cost_dim rows), each with the window-local key the big
-- row kinds carry: containers (tid, cid) for every container on a node in a tag segment it ran in, egress
-- (tid, cid = 0) per pod segment, node idle (nid). The small kinds (cm_small) are matched on their strings
-- (no key).
CREATE OR REPLACE TEMP TABLE cm_dimcand AS
WITH c AS (SELECT DISTINCT cid, pid, nid FROM cm_ctr)
SELECT s.tid, c.cid, NULL::INTEGER AS nid, t.namespace, t.pod, d.container, t.node, t.node_pool, t.capacity_type,
       '' AS bucket, t.team, t.project, t.model, t.env, t.cost_center, t.job, t.is_shared, '' AS pvc
FROM c JOIN cm_seg s ON s.pid = c.pid AND s.nid = c.nid JOIN cm_tags t ON t.tid = s.tid JOIN cm_cdim d ON d.cid = c.cid
UNION
SELECT e.tid, 0, NULL, t.namespace, t.pod, '', t.node, t.node_pool, t.capacity_type, '', t.team, t.project, t.model,
       t.env, t.cost_center, t.job, t.is_shared, ''
FROM (SELECT DISTINCT tid FROM cm_eseg) e JOIN cm_tags t USING (tid)
UNION
SELECT NULL, NULL, p.nid, '', '', '', p.node, coalesce(p.node_pool, '__unallocated__'),
       coalesce(p.capacity_type, ''), '', '__idle__', '__idle__', '__idle__', '__idle__', '__idle__', '', false, ''
FROM cm_price p SEMI JOIN cm_idle USING (nid)
UNION
SELECT DISTINCT NULL, NULL, NULL, namespace, pod, container, node, node_pool, capacity_type, bucket,
       team, project, model, env, cost_center, job, is_shared, pvc
FROM cm_small;
