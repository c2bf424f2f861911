-- The cost mart as a star: the strings of an allocation (tags, node, pod, container, bucket, claim) are stored
-- once per distinct combination in mart.cost_dim and every hourly row of mart.cost_fact refers to one by
-- integer. A year of hourly rows for 5,000 pods is ~90 M rows; writing 16 string columns per row was about
-- half of a full rebuild. Readers keep reading mart.cost_hourly, now a view with the same columns.

-- One row per distinct string combination ever allocated (never deleted: hours are rebuilt, dims reused).
CREATE TABLE mart.cost_dim (
    dim_id         INTEGER PRIMARY KEY,
    namespace      VARCHAR NOT NULL,
    pod            VARCHAR NOT NULL,
    container      VARCHAR NOT NULL,
    node           VARCHAR NOT NULL,
    node_pool      VARCHAR NOT NULL,
    capacity_type  VARCHAR NOT NULL,
    bucket         VARCHAR NOT NULL,
    team           VARCHAR NOT NULL,
    project        VARCHAR NOT NULL,
    model          VARCHAR NOT NULL,
    env            VARCHAR NOT NULL,
    cost_center    VARCHAR NOT NULL,
    job            VARCHAR NOT NULL,
    is_shared      BOOLEAN NOT NULL,
    pvc            VARCHAR NOT NULL
);

-- Per hour, kind and dim: the quantities and costs (column meanings in 0004_cost.sql / 0005_volumes.sql).
-- Every number defaults to 0, so each kind's INSERT names only the columns it fills.
CREATE TABLE mart.cost_fact (
    hour                    TIMESTAMP NOT NULL,
    kind                    VARCHAR NOT NULL,
    dim_id                  INTEGER NOT NULL,
    gpu_hours               DOUBLE NOT NULL DEFAULT 0.0,
    gpu_used_hours          DOUBLE NOT NULL DEFAULT 0.0,
    cpu_core_hours          DOUBLE NOT NULL DEFAULT 0.0,
    cpu_request_core_hours  DOUBLE NOT NULL DEFAULT 0.0,
    cpu_usage_core_hours    DOUBLE NOT NULL DEFAULT 0.0,
    ram_gib_hours           DOUBLE NOT NULL DEFAULT 0.0,
    ram_request_gib_hours   DOUBLE NOT NULL DEFAULT 0.0,
    ram_usage_gib_hours     DOUBLE NOT NULL DEFAULT 0.0,
    tx_bytes                DOUBLE NOT NULL DEFAULT 0.0,
    storage_bytes           DOUBLE NOT NULL DEFAULT 0.0,
    gpu_cost                DOUBLE NOT NULL DEFAULT 0.0,
    cpu_cost                DOUBLE NOT NULL DEFAULT 0.0,
    ram_cost                DOUBLE NOT NULL DEFAULT 0.0,
    egress_cost             DOUBLE NOT NULL DEFAULT 0.0,
    storage_cost            DOUBLE NOT NULL DEFAULT 0.0,
    idle_gpu_cost           DOUBLE NOT NULL DEFAULT 0.0,
    idle_cpu_cost           DOUBLE NOT NULL DEFAULT 0.0,
    idle_ram_cost           DOUBLE NOT NULL DEFAULT 0.0,
    shared_cost             DOUBLE NOT NULL DEFAULT 0.0,
    volume_cost             DOUBLE NOT NULL DEFAULT 0.0,
    volume_gib_hours        DOUBLE NOT NULL DEFAULT 0.0,
    usage_cost              DOUBLE NOT NULL DEFAULT 0.0,
    allocation_cost         DOUBLE NOT NULL DEFAULT 0.0
);
-- No index on hour: builds insert whole hours in order, so zonemaps prune `hour` ranges.

INSERT INTO mart.cost_dim
SELECT row_number() OVER ()::INTEGER, *
FROM (SELECT DISTINCT namespace, pod, container, node, node_pool, capacity_type, bucket, team, project, model, env,
                      cost_center, job, is_shared, pvc FROM mart.cost_hourly);

INSERT INTO mart.cost_fact BY NAME
SELECT h.* EXCLUDE (namespace, pod, container, node, node_pool, capacity_type, bucket, team, project, model, env,
                    cost_center, job, is_shared, pvc), d.dim_id
FROM mart.cost_hourly h
JOIN mart.cost_dim d USING (namespace, pod, container, node, node_pool, capacity_type, bucket, team, project,
                            model, env, cost_center, job, is_shared, pvc);

DROP TABLE mart.cost_hourly;

CREATE VIEW mart.cost_hourly AS
SELECT f.hour, f.kind, d.namespace, d.pod, d.container, d.node, d.node_pool, d.capacity_type, d.bucket, d.team,
       d.project, d.model, d.env, d.cost_center, d.job, d.is_shared,
       f.gpu_hours, f.gpu_used_hours, f.cpu_core_hours, f.cpu_request_core_hours, f.cpu_usage_core_hours,
       f.ram_gib_hours, f.ram_request_gib_hours, f.ram_usage_gib_hours, f.tx_bytes, f.storage_bytes,
       f.gpu_cost, f.cpu_cost, f.ram_cost, f.egress_cost, f.storage_cost, f.idle_gpu_cost, f.idle_cpu_cost,
       f.idle_ram_cost, f.shared_cost, f.usage_cost, f.allocation_cost, f.volume_cost, f.volume_gib_hours, d.pvc
FROM mart.cost_fact f JOIN mart.cost_dim d USING (dim_id);
