-- Store the chunk's new string combinations (ids continue after the largest), then map the window-local keys
-- of the big row kinds to their dim_id: (tid, cid) for containers and egress, nid for node idle.
INSERT INTO mart.cost_dim
SELECT ((SELECT coalesce(max(dim_id), 0) FROM mart.cost_dim) + row_number() OVER ())::INTEGER AS dim_id, n.*
FROM (SELECT DISTINCT namespace, pod, container, node, node_pool, capacity_type, bucket, team, project, model,
                      env, cost_center, job, is_shared, pvc FROM cm_dimcand) n
ANTI JOIN mart.cost_dim d USING (namespace, pod, container, node, node_pool, capacity_type, bucket, team, project,
                                 model, env, cost_center, job, is_shared, pvc);

CREATE OR REPLACE TEMP TABLE cm_dmap AS
SELECT c.tid, c.cid, c.nid, d.dim_id
FROM cm_dimcand c
JOIN mart.cost_dim d USING (namespace, pod, container, node, node_pool, capacity_type, bucket, team, project,
                            model, env, cost_center, job, is_shared, pvc)
WHERE c.tid IS NOT NULL OR c.nid IS NOT NULL;
