-- Persistent volumes (docs/cost-semantics.md): per interval a claim exists, requested GiB × the $/GiB-month of
-- its bound PersistentVolume (OpenCost CSV pv row), else of its StorageClass, else the default, × Δ / 730, split
-- evenly between the pods whose spec mounts it then (each share takes that pod's tags); with no mounting pod the
-- cost goes to __unmounted__. No idle, never shared or spread: usage = allocation.
INSERT INTO cm_small BY NAME
WITH v AS (
    SELECT c.ts, c.namespace, c.persistentvolumeclaim AS claim, c.request_bytes / 1073741824.0 AS gib,
           c.request_bytes / 1073741824.0 * coalesce(n.gib_month, p.gib_month, $volume_gib_month) * $dt / 730.0
               AS cost
    FROM raw.pvc c
    LEFT JOIN cm_volume_price n ON n.kind = 'volume' AND n.name = c.volume AND c.volume <> ''
    LEFT JOIN cm_volume_price p ON p.kind = 'class' AND p.name = c.storageclass
    WHERE c.ts >= $start AND c.ts < $end AND c.request_bytes IS NOT NULL
), m AS (
    SELECT ts, namespace, persistentvolumeclaim AS claim, pod,
           count(*) OVER (PARTITION BY ts, namespace, persistentvolumeclaim) AS k
    FROM raw.pod_pvc WHERE ts >= $start AND ts < $end
), x AS (
    SELECT v.ts, v.namespace, v.claim, m.pod, v.gib / coalesce(m.k, 1) AS gib, v.cost / coalesce(m.k, 1) AS cost
    FROM v LEFT JOIN m USING (ts, namespace, claim)
), t AS (  -- the mounting pod's tag segment (cm_eseg: per pod, as for egress)
    SELECT x.*, s.tid FROM x
    LEFT JOIN cm_pdim d ON d.namespace = x.namespace AND d.pod = x.pod
    LEFT JOIN cm_eseg s ON s.pid = d.pid AND x.ts >= s.vf AND x.ts < s.vt
), h AS (
    SELECT date_trunc('hour', ts) AS hour, namespace, claim, pod, tid, sum(gib) * $dt AS gib_hours,
           sum(cost) AS cost
    FROM t GROUP BY ALL
)
SELECT h.hour, 'volume' AS kind,
       CASE WHEN h.pod IS NULL THEN '__unmounted__' ELSE h.namespace END AS namespace,
       coalesce(h.pod, '') AS pod, '' AS container, coalesce(g.node, '') AS node,
       CASE WHEN h.pod IS NULL THEN '__unmounted__' ELSE coalesce(g.node_pool, '__unallocated__') END AS node_pool,
       coalesce(g.capacity_type, '') AS capacity_type, '' AS bucket,
       CASE WHEN h.pod IS NULL THEN '__unmounted__' ELSE coalesce(g.team, '__unallocated__') END AS team,
       CASE WHEN h.pod IS NULL THEN '__unmounted__' ELSE coalesce(g.project, '__unallocated__') END AS project,
       CASE WHEN h.pod IS NULL THEN '__unmounted__' ELSE coalesce(g.model, '__unallocated__') END AS model,
       CASE WHEN h.pod IS NULL THEN '__unmounted__' ELSE coalesce(g.env, '__unallocated__') END AS env,
       CASE WHEN h.pod IS NULL THEN '__unmounted__' ELSE coalesce(g.cost_center, '__unallocated__') END
           AS cost_center,
       coalesce(g.job, '') AS job, false AS is_shared,
       0.0 AS gpu_hours, 0.0 AS gpu_used_hours, 0.0 AS cpu_core_hours, 0.0 AS cpu_request_core_hours,
       0.0 AS cpu_usage_core_hours, 0.0 AS ram_gib_hours, 0.0 AS ram_request_gib_hours,
       0.0 AS ram_usage_gib_hours, 0.0 AS tx_bytes, 0.0 AS storage_bytes,
       0.0 AS gpu_cost, 0.0 AS cpu_cost, 0.0 AS ram_cost, 0.0 AS egress_cost, 0.0 AS storage_cost,
       0.0 AS idle_gpu_cost, 0.0 AS idle_cpu_cost, 0.0 AS idle_ram_cost, 0.0 AS shared_cost,
       h.cost AS volume_cost, h.gib_hours AS volume_gib_hours, h.namespace || '/' || h.claim AS pvc,
       h.cost AS usage_cost, h.cost AS allocation_cost
FROM h LEFT JOIN cm_tags g ON g.tid = h.tid;
