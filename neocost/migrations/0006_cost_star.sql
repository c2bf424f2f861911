-- The cost mart as a star: the strings of an allocation (tags, node, pod, container, bucket, claim) are stored
-- once per distinct combination in mart.cost_dim and every hourly row of the fact tables refers to one by
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

-- The hourly numbers, one table per row shape so that each kind writes only the columns it has (writing was
-- the largest cost of a rebuild, and a pod-hour of egress needs 3 numbers, not 25): containers, pod egress, and
-- the small kinds (node idle, object storage, persistent volumes) with every column. usage_cost and
-- allocation_cost of containers and egress are sums of their columns, computed by the view.
CREATE TABLE mart.cost_fact_container (
    hour                    TIMESTAMP NOT NULL,
    dim_id                  INTEGER NOT NULL,
    gpu_hours               DOUBLE NOT NULL,
    gpu_used_hours          DOUBLE NOT NULL,
    cpu_core_hours          DOUBLE NOT NULL,
    cpu_request_core_hours  DOUBLE NOT NULL,
    cpu_usage_core_hours    DOUBLE NOT NULL,
    ram_gib_hours           DOUBLE NOT NULL,
    ram_request_gib_hours   DOUBLE NOT NULL,
    ram_usage_gib_hours     DOUBLE NOT NULL,
    gpu_cost                DOUBLE NOT NULL,
    cpu_cost                DOUBLE NOT NULL,
    ram_cost                DOUBLE NOT NULL,
    idle_gpu_cost           DOUBLE NOT NULL,
    idle_cpu_cost           DOUBLE NOT NULL,
    idle_ram_cost           DOUBLE NOT NULL,
    shared_cost             DOUBLE NOT NULL
);

CREATE TABLE mart.cost_fact_egress (
    hour         TIMESTAMP NOT NULL,
    dim_id       INTEGER NOT NULL,
    tx_bytes     DOUBLE NOT NULL,
    egress_cost  DOUBLE NOT NULL,
    shared_cost  DOUBLE NOT NULL
);

CREATE TABLE mart.cost_fact_other (
    hour                    TIMESTAMP NOT NULL,
    kind                    VARCHAR NOT NULL,   -- idle | storage | volume
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

CREATE TEMP TABLE _cost_rows AS
SELECT h.*, d.dim_id
FROM mart.cost_hourly h
JOIN mart.cost_dim d USING (namespace, pod, container, node, node_pool, capacity_type, bucket, team, project,
                            model, env, cost_center, job, is_shared, pvc);
INSERT INTO mart.cost_fact_container BY NAME
SELECT * EXCLUDE (kind, namespace, pod, container, node, node_pool, capacity_type, bucket, team, project, model,
                  env, cost_center, job, is_shared, pvc, tx_bytes, storage_bytes, egress_cost, storage_cost,
                  volume_cost, volume_gib_hours, usage_cost, allocation_cost)
FROM _cost_rows WHERE kind = 'container';
INSERT INTO mart.cost_fact_egress BY NAME
SELECT hour, dim_id, tx_bytes, egress_cost, shared_cost FROM _cost_rows WHERE kind = 'egress';
INSERT INTO mart.cost_fact_other BY NAME
SELECT * EXCLUDE (namespace, pod, container, node, node_pool, capacity_type, bucket, team, project, model, env,
                  cost_center, job, is_shared, pvc)
FROM _cost_rows WHERE kind NOT IN ('container', 'egress');
DROP TABLE _cost_rows;

DROP TABLE mart.cost_hourly;

CREATE VIEW mart.cost_hourly AS
WITH f AS (
    SELECT hour, 'container' AS kind, dim_id, gpu_hours, gpu_used_hours, cpu_core_hours, cpu_request_core_hours,
           cpu_usage_core_hours, ram_gib_hours, ram_request_gib_hours, ram_usage_gib_hours, 0.0 AS tx_bytes,
           0.0 AS storage_bytes, gpu_cost, cpu_cost, ram_cost, 0.0 AS egress_cost, 0.0 AS storage_cost,
           idle_gpu_cost, idle_cpu_cost, idle_ram_cost, shared_cost, gpu_cost + cpu_cost + ram_cost AS usage_cost,
           gpu_cost + cpu_cost + ram_cost + idle_gpu_cost + idle_cpu_cost + idle_ram_cost + shared_cost
               AS allocation_cost,
           0.0 AS volume_cost, 0.0 AS volume_gib_hours
    FROM mart.cost_fact_container
    UNION ALL
    SELECT hour, 'egress', dim_id, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, tx_bytes, 0.0, 0.0, 0.0, 0.0,
           egress_cost, 0.0, 0.0, 0.0, 0.0, shared_cost, egress_cost, egress_cost + shared_cost, 0.0, 0.0
    FROM mart.cost_fact_egress
    UNION ALL
    SELECT hour, kind, dim_id, gpu_hours, gpu_used_hours, cpu_core_hours, cpu_request_core_hours,
           cpu_usage_core_hours, ram_gib_hours, ram_request_gib_hours, ram_usage_gib_hours, tx_bytes, storage_bytes,
           gpu_cost, cpu_cost, ram_cost, egress_cost, storage_cost, idle_gpu_cost, idle_cpu_cost, idle_ram_cost,
           shared_cost, usage_cost, allocation_cost, volume_cost, volume_gib_hours
    FROM mart.cost_fact_other
)
SELECT f.hour, f.kind, d.namespace, d.pod, d.container, d.node, d.node_pool, d.capacity_type, d.bucket, d.team,
       d.project, d.model, d.env, d.cost_center, d.job, d.is_shared,
       f.gpu_hours, f.gpu_used_hours, f.cpu_core_hours, f.cpu_request_core_hours, f.cpu_usage_core_hours,
       f.ram_gib_hours, f.ram_request_gib_hours, f.ram_usage_gib_hours, f.tx_bytes, f.storage_bytes,
       f.gpu_cost, f.cpu_cost, f.ram_cost, f.egress_cost, f.storage_cost, f.idle_gpu_cost, f.idle_cpu_cost,
       f.idle_ram_cost, f.shared_cost, f.usage_cost, f.allocation_cost, f.volume_cost, f.volume_gib_hours, d.pvc
FROM f JOIN mart.cost_dim d USING (dim_id);
