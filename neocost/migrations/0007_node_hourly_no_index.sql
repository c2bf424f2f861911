-- model.node_hourly without its PRIMARY KEY (hour, node). Builds delete and insert whole hours, so the key
-- stays unique without an index; the ART index cost ~7 s of a year's rebuild (5,000 pods) and grows in
-- memory with every hour ever stored. Same columns; zonemaps prune `hour` ranges.
CREATE TABLE model.node_hourly_new (
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
    gpu_hours_allocated  DOUBLE NOT NULL
    -- unique key, not indexed: (hour, node)
);
INSERT INTO model.node_hourly_new SELECT * FROM model.node_hourly ORDER BY hour, node;
DROP TABLE model.node_hourly;
ALTER TABLE model.node_hourly_new RENAME TO node_hourly;
