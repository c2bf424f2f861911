-- Persistent volumes: the raw tables the Prometheus collector fills from kube-state-metrics and kubelet
-- (conventions of 0002_raw.sql: UTC TIMESTAMP, a row with `ts` describes [ts, ts + resolution); like the other
-- time-series tables no PRIMARY KEY index: the collector writes each window with replace_window from rows
-- grouped by the key named in the comment above each table).

-- Per PersistentVolumeClaim and interval in which it exists (kube_persistentvolumeclaim_info /
-- _resource_requests_storage_bytes); key ts, namespace, persistentvolumeclaim. Used bytes from
-- kubelet_volume_stats_used_bytes, NULL when no running pod on a node reports the volume.
CREATE TABLE raw.pvc (
    ts                     TIMESTAMP NOT NULL,
    namespace              VARCHAR NOT NULL,
    persistentvolumeclaim  VARCHAR NOT NULL,
    storageclass           VARCHAR NOT NULL DEFAULT '',  -- '' when unknown (no kube_persistentvolumeclaim_info)
    volume                 VARCHAR NOT NULL DEFAULT '',  -- bound PersistentVolume name ('' while pending)
    request_bytes          DOUBLE,                       -- requested storage (bytes)
    used_bytes             DOUBLE                        -- mean used bytes
);

-- Per pod, claim and interval in which the pod object's spec mounts the claim
-- (kube_pod_spec_volumes_persistentvolumeclaims_info); key ts, namespace, pod, persistentvolumeclaim.
CREATE TABLE raw.pod_pvc (
    ts                     TIMESTAMP NOT NULL,
    namespace              VARCHAR NOT NULL,
    pod                    VARCHAR NOT NULL,
    persistentvolumeclaim  VARCHAR NOT NULL
);

-- Persistent volume rows of mart.cost_hourly (kind = 'volume', costmodel/sql/alloc/85_volumes.sql): the claim's
-- cost, its requested GiB-hours and the claim as `namespace/name` ('' on every other kind).
ALTER TABLE mart.cost_hourly ADD COLUMN volume_cost DOUBLE DEFAULT 0.0;
ALTER TABLE mart.cost_hourly ADD COLUMN volume_gib_hours DOUBLE DEFAULT 0.0;
ALTER TABLE mart.cost_hourly ADD COLUMN pvc VARCHAR DEFAULT '';
