-- Cost model results (costmodel/). Rebuilt per hour: `neocost cost` deletes the affected hours and inserts them
-- again in one transaction, so a rebuild is idempotent and an hour can be refreshed on its own.

-- Unit prices each node resolved to (price book row, or defaults with a warning).
CREATE TABLE model.node_price (
    node             VARCHAR PRIMARY KEY,
    instance_type    VARCHAR,
    capacity_type    VARCHAR NOT NULL,
    node_pool        VARCHAR,
    gpu_product      VARCHAR,
    gpus             DOUBLE NOT NULL,          -- physical GPUs
    gpu_replicas     INTEGER NOT NULL,         -- time-slicing replicas per GPU, 1 = none
    mig_slices       INTEGER NOT NULL,         -- compute slices of one card (7 for A100/H100)
    gpu_hourly       DOUBLE NOT NULL,          -- $ per physical GPU-hour
    cpu_core_hourly  DOUBLE NOT NULL,
    ram_gib_hourly   DOUBLE NOT NULL,
    source           VARCHAR,
    as_of            VARCHAR,
    defaulted        BOOLEAN NOT NULL,         -- no price book row: default unit prices
    updated_at       TIMESTAMP NOT NULL
);

-- Per node and hour: cost, allocation and idle per resource.
CREATE TABLE model.node_hourly (
    hour                 TIMESTAMP NOT NULL,
    node                 VARCHAR NOT NULL,
    node_pool            VARCHAR,
    capacity_type        VARCHAR,
    gpu_cost             DOUBLE NOT NULL,
    cpu_cost             DOUBLE NOT NULL,
    ram_cost             DOUBLE NOT NULL,
    alloc_gpu_cost       DOUBLE NOT NULL,
    alloc_cpu_cost       DOUBLE NOT NULL,
    alloc_ram_cost       DOUBLE NOT NULL,
    idle_gpu_cost        DOUBLE NOT NULL,      -- max(node - allocated, 0) per interval
    idle_cpu_cost        DOUBLE NOT NULL,
    idle_ram_cost        DOUBLE NOT NULL,
    overrun_cost         DOUBLE NOT NULL,      -- allocation above node cost (usage above capacity)
    gpu_hours_capacity   DOUBLE NOT NULL,
    gpu_hours_allocated  DOUBLE NOT NULL,
    PRIMARY KEY (hour, node)
);

-- Hourly cost by everything a report can group on. kind:
--   container  a container's GPU/CPU/RAM allocation (idle_*_cost = idle it received on the allocation basis)
--   egress     a pod's network egress
--   storage    a bucket's object storage (bucket tags)
--   idle       a node's idle (idle_*_cost = the idle amount; allocation_cost = what was not spread)
-- usage_cost is the row's own cost; allocation_cost adds received idle and shared cost and subtracts what the
-- row gave away, so both columns sum to the bill.
CREATE TABLE mart.cost_hourly (
    hour                    TIMESTAMP NOT NULL,
    kind                    VARCHAR NOT NULL,
    namespace               VARCHAR NOT NULL,
    pod                     VARCHAR NOT NULL,
    container               VARCHAR NOT NULL,
    node                    VARCHAR NOT NULL,
    node_pool               VARCHAR NOT NULL,
    capacity_type           VARCHAR NOT NULL,
    bucket                  VARCHAR NOT NULL,
    team                    VARCHAR NOT NULL,
    project                 VARCHAR NOT NULL,
    model                   VARCHAR NOT NULL,
    env                     VARCHAR NOT NULL,
    cost_center             VARCHAR NOT NULL,
    job                     VARCHAR NOT NULL,   -- training run (Job owner or job-name label), '' if none
    is_shared               BOOLEAN NOT NULL,
    gpu_hours               DOUBLE NOT NULL,    -- physical-GPU equivalents x hours x running
    gpu_used_hours          DOUBLE NOT NULL,    -- gpu_hours x measured utilisation (DCGM)
    cpu_core_hours          DOUBLE NOT NULL,    -- max(request, usage)
    cpu_request_core_hours  DOUBLE NOT NULL,
    cpu_usage_core_hours    DOUBLE NOT NULL,
    ram_gib_hours           DOUBLE NOT NULL,
    ram_request_gib_hours   DOUBLE NOT NULL,
    ram_usage_gib_hours     DOUBLE NOT NULL,
    tx_bytes                DOUBLE NOT NULL,
    storage_bytes           DOUBLE NOT NULL,
    gpu_cost                DOUBLE NOT NULL,
    cpu_cost                DOUBLE NOT NULL,
    ram_cost                DOUBLE NOT NULL,
    egress_cost             DOUBLE NOT NULL,
    storage_cost            DOUBLE NOT NULL,
    idle_gpu_cost           DOUBLE NOT NULL,
    idle_cpu_cost           DOUBLE NOT NULL,
    idle_ram_cost           DOUBLE NOT NULL,
    shared_cost             DOUBLE NOT NULL,    -- shared-namespace cost received (-) given away
    usage_cost              DOUBLE NOT NULL,
    allocation_cost         DOUBLE NOT NULL
);
-- No index on hour: builds insert whole hours in order, so the zonemaps prune `hour` ranges; an ART index would
-- cost memory and insert time on millions of rows and is not used for range filters.

-- Inference counters per pod and hour with the pod's tags (model = the pod's model tag).
CREATE TABLE mart.inference_hourly (
    hour             TIMESTAMP NOT NULL,
    server           VARCHAR NOT NULL,
    namespace        VARCHAR NOT NULL,
    pod              VARCHAR NOT NULL,
    served_model     VARCHAR NOT NULL,
    model            VARCHAR NOT NULL,
    team             VARCHAR NOT NULL,
    project          VARCHAR NOT NULL,
    env              VARCHAR NOT NULL,
    requests         DOUBLE NOT NULL,
    errors           DOUBLE NOT NULL,
    input_tokens     DOUBLE,                    -- NULL where the server does not report it (Triton)
    output_tokens    DOUBLE,
    cached_tokens    DOUBLE,
    prefill_seconds  DOUBLE,
    decode_seconds   DOUBLE
);

-- Storage per bucket, prefix and class from the newest snapshot (savings hints read it).
CREATE TABLE mart.storage_snapshot (
    bucket           VARCHAR NOT NULL,
    snapshot_at      TIMESTAMP NOT NULL,
    prefix           VARCHAR NOT NULL,
    storage_class    VARCHAR NOT NULL,
    is_latest        BOOLEAN NOT NULL,
    bytes            BIGINT NOT NULL,
    stale_bytes      BIGINT NOT NULL,
    gib_month        DOUBLE NOT NULL,           -- price
    monthly_cost     DOUBLE NOT NULL,
    team             VARCHAR NOT NULL,
    model            VARCHAR NOT NULL
);
