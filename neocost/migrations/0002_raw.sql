-- raw: normalised source data, the contract between the collectors and the cost model / drift jobs.
--
-- Conventions (docs/warehouse.md):
--   * all times are UTC TIMESTAMP (no zone); windows are half-open [start, end);
--   * a time-series row with `ts` describes the interval [ts, ts + resolution), resolution 5 minutes by
--     default: gauges are the interval's mean, counters are the interval's increase (exact deltas of
--     step-aligned values with reset handling, not PromQL increase());
--   * Kubernetes resource names use kube-state-metrics' sanitised spelling: cpu, memory, nvidia_com_gpu,
--     nvidia_com_mig_1g_10gb, ...;
--   * label maps keep Kubernetes keys (team, app.kubernetes.io/name) when read from the API; from
--     kube-state-metrics the `label_` prefix is stripped (label_app_kubernetes_io_name -> app_kubernetes_io_name).
--     Match configured keys with neocost.labels.sanitize_label_key() on both sides.
--   * the time-series tables have no PRIMARY KEY: DuckDB keeps an ART index in memory for every key ever
--     inserted and maintaining it made inserts ~4x slower (large scale: GBs of RAM after a few days). Each
--     collector writes a window with replace_window (delete [start, end), insert) from rows grouped by the key,
--     so the key stays unique without it.

-- Per container and interval: requests and limits per resource (kube_pod_container_resource_requests/_limits)
-- and the fraction of the interval the container was running (kube_pod_container_status_running).
CREATE TABLE raw.container_requests (
    ts         TIMESTAMP NOT NULL,
    namespace  VARCHAR NOT NULL,
    pod        VARCHAR NOT NULL,
    container  VARCHAR NOT NULL,
    node       VARCHAR NOT NULL DEFAULT '',   -- '' until scheduled
    resource   VARCHAR NOT NULL,              -- cpu (cores) | memory (bytes) | nvidia_com_gpu | nvidia_com_mig_*
    request    DOUBLE,                        -- NULL when only a limit is set
    "limit"    DOUBLE,
    running    DOUBLE                         -- 0..1 share of the interval running; NULL = unknown
    -- unique key, not indexed (see the header): (ts, namespace, pod, container, resource)
);

-- Per container and interval: measured usage (cAdvisor, container != "").
CREATE TABLE raw.container_usage (
    ts            TIMESTAMP NOT NULL,
    namespace     VARCHAR NOT NULL,
    pod           VARCHAR NOT NULL,
    container     VARCHAR NOT NULL,
    cpu_cores     DOUBLE,                     -- mean cores = increase(container_cpu_usage_seconds_total) / seconds
    memory_bytes  DOUBLE                      -- mean container_memory_working_set_bytes
    -- unique key, not indexed (see the header): (ts, namespace, pod, container)
);

-- Per pod and interval: network bytes from the pod sandbox row (container = ""), interfaces summed, lo dropped.
CREATE TABLE raw.pod_network (
    ts         TIMESTAMP NOT NULL,
    namespace  VARCHAR NOT NULL,
    pod        VARCHAR NOT NULL,
    tx_bytes   DOUBLE,
    rx_bytes   DOUBLE
    -- unique key, not indexed (see the header): (ts, namespace, pod)
);

-- Per GPU (or MIG instance) and interval, from the DCGM exporter.
CREATE TABLE raw.gpu_usage (
    ts            TIMESTAMP NOT NULL,
    node          VARCHAR NOT NULL,           -- Hostname | hostname label (or kube node via instance)
    gpu_uuid      VARCHAR NOT NULL,           -- UUID | uuid
    gpu_index     VARCHAR,                    -- gpu
    gpu_model     VARCHAR,                    -- modelName
    mig_profile   VARCHAR NOT NULL DEFAULT '',-- GPU_I_PROFILE, '' for a whole GPU
    mig_instance  VARCHAR NOT NULL DEFAULT '',-- GPU_I_ID
    namespace     VARCHAR,                    -- namespace | exported_namespace | pod_namespace ('' = not assigned)
    pod           VARCHAR,                    -- pod | exported_pod | pod_name
    container     VARCHAR,
    util          DOUBLE,                     -- 0..1: PROF_GR_ENGINE_ACTIVE, else DEV_GPU_UTIL / 100
    fb_used_mib   DOUBLE,
    power_w       DOUBLE
    -- unique key, not indexed (see the header): (ts, node, gpu_uuid, mig_instance)
);

-- Per node and interval: kube_node_status_capacity / _allocatable. A node has rows only while it exists,
-- so these rows are also the node's presence (what it costs).
CREATE TABLE raw.node_capacity (
    ts           TIMESTAMP NOT NULL,
    node         VARCHAR NOT NULL,
    resource     VARCHAR NOT NULL,            -- cpu | memory | nvidia_com_gpu | nvidia_com_mig_* | pods ...
    capacity     DOUBLE,
    allocatable  DOUBLE
    -- unique key, not indexed (see the header): (ts, node, resource)
);

-- Per inference-server pod, model and interval, whatever server produced it (vLLM, SGLang, Triton, TGI,
-- OTel GenAI). Counter increases; NULL where the server does not report the quantity.
CREATE TABLE raw.inference (
    ts               TIMESTAMP NOT NULL,
    server           VARCHAR NOT NULL,        -- vllm | sglang | triton | tgi | otel
    namespace        VARCHAR NOT NULL,
    pod              VARCHAR NOT NULL,
    model            VARCHAR NOT NULL DEFAULT '', -- as the server reports it ('' for TGI: use the pod's model tag)
    requests         DOUBLE,                  -- finished requests (success + failure)
    successes        DOUBLE,
    errors           DOUBLE,
    input_tokens     DOUBLE,                  -- prompt / input tokens
    output_tokens    DOUBLE,                  -- generation / output tokens
    cached_tokens    DOUBLE,                  -- prompt tokens served from the prefix cache
    prefill_seconds  DOUBLE,                  -- summed request prefill time
    decode_seconds   DOUBLE                   -- summed request decode time
    -- unique key, not indexed (see the header): (ts, server, namespace, pod, model)
);

-- Latency histograms per interval (bucket count increases), so p50/p95/p99 can be computed for any span.
CREATE TABLE raw.inference_latency (
    ts         TIMESTAMP NOT NULL,
    server     VARCHAR NOT NULL,
    namespace  VARCHAR NOT NULL,
    pod        VARCHAR NOT NULL,
    model      VARCHAR NOT NULL DEFAULT '',
    metric     VARCHAR NOT NULL,              -- ttft | e2e | queue | inter_token
    le         DOUBLE NOT NULL,               -- upper bound in seconds; 'Infinity' for +Inf
    count      DOUBLE NOT NULL                -- cumulative bucket increase over the interval
    -- unique key, not indexed (see the header): (ts, server, namespace, pod, model, metric, le)
);

-- Kubernetes metadata as history: a change of labels, node or node facts closes the current version
-- (valid_to) and opens a new one. source = 'api' (Kubernetes API) or 'ksm' (kube-state-metrics series);
-- readers prefer 'api' where both exist.
CREATE TABLE raw.k8s_namespace (
    source      VARCHAR NOT NULL,
    namespace   VARCHAR NOT NULL,
    labels      MAP(VARCHAR, VARCHAR) NOT NULL,
    valid_from  TIMESTAMP NOT NULL,
    valid_to    TIMESTAMP,                    -- NULL = current
    PRIMARY KEY (source, namespace, valid_from)
);

CREATE TABLE raw.k8s_pod (
    source      VARCHAR NOT NULL,
    namespace   VARCHAR NOT NULL,
    pod         VARCHAR NOT NULL,
    uid         VARCHAR,
    node        VARCHAR,
    owner_kind  VARCHAR,                      -- Job | ReplicaSet | StatefulSet | DaemonSet | '' (bare pod)
    owner_name  VARCHAR,
    controller_kind VARCHAR,                  -- top controller: Deployment (via ReplicaSet), CronJob, ...
    controller_name VARCHAR,
    phase       VARCHAR,
    requests    MAP(VARCHAR, DOUBLE),         -- effective pod requests (API only): cpu cores, memory bytes, nvidia_com_gpu
    labels      MAP(VARCHAR, VARCHAR) NOT NULL,
    valid_from  TIMESTAMP NOT NULL,
    valid_to    TIMESTAMP,
    PRIMARY KEY (source, namespace, pod, valid_from)
);

CREATE TABLE raw.k8s_node (
    source         VARCHAR NOT NULL,
    node           VARCHAR NOT NULL,
    instance_type  VARCHAR,                   -- node.kubernetes.io/instance-type (beta spelling too)
    capacity_type  VARCHAR,                   -- on-demand | spot | reserved (normalised)
    node_pool      VARCHAR,
    region         VARCHAR,
    zone           VARCHAR,
    gpu_product    VARCHAR,                   -- nvidia.com/gpu.product
    gpu_count      INTEGER,                   -- physical GPUs (nvidia.com/gpu.count)
    gpu_replicas   INTEGER,                   -- time-slicing replicas per GPU (nvidia.com/gpu.replicas), 1 = none
    mig_strategy   VARCHAR,                   -- none | single | mixed
    cpu_cores      DOUBLE,
    memory_bytes   DOUBLE,
    labels         MAP(VARCHAR, VARCHAR) NOT NULL,
    valid_from     TIMESTAMP NOT NULL,
    valid_to       TIMESTAMP,
    PRIMARY KEY (source, node, valid_from)
);

-- Object storage, per inventory snapshot (or ListObjectsV2 pass).
CREATE TABLE raw.s3_snapshot (
    bucket        VARCHAR NOT NULL,
    snapshot_at   TIMESTAMP NOT NULL,         -- manifest creationTimestamp, or the listing time
    method        VARCHAR NOT NULL,           -- inventory | list
    config_id     VARCHAR NOT NULL DEFAULT '',
    manifest_key  VARCHAR,
    file_format   VARCHAR,                    -- CSV | Parquet | ORC
    objects       BIGINT NOT NULL,
    bytes         BIGINT NOT NULL,
    collected_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (bucket, snapshot_at)
);

CREATE TABLE raw.s3_storage (
    bucket         VARCHAR NOT NULL,
    snapshot_at    TIMESTAMP NOT NULL,
    prefix         VARCHAR NOT NULL,          -- first `prefix_depth` path segments, with trailing '/'
    storage_class  VARCHAR NOT NULL,
    is_latest      BOOLEAN NOT NULL,          -- false = noncurrent version
    objects        BIGINT NOT NULL,
    bytes          BIGINT NOT NULL,
    stale_objects  BIGINT NOT NULL DEFAULT 0, -- latest objects under a checkpoint-like prefix older than the limit
    stale_bytes    BIGINT NOT NULL DEFAULT 0,
    oldest_modified TIMESTAMP,
    PRIMARY KEY (bucket, snapshot_at, prefix, storage_class, is_latest)
);

CREATE TABLE raw.s3_bucket_tags (
    bucket        VARCHAR NOT NULL,
    key           VARCHAR NOT NULL,
    value         VARCHAR NOT NULL,
    collected_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (bucket, key)
);
