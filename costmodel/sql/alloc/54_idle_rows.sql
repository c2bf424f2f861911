-- The small row kinds (object storage, persistent volumes) are built with their strings into cm_small (the
-- columns of mart.cost_hourly); 62_cost_fact.sql stores them against mart.cost_dim. The big kinds (container,
-- egress, node idle) never carry strings per row: see 57_dims.sql.
CREATE OR REPLACE TEMP TABLE cm_small AS SELECT * FROM mart.cost_hourly LIMIT 0;
-- only volume rows fill these (a CTAS keeps no defaults): every kind's INSERT BY NAME then leaves no NULLs
ALTER TABLE cm_small ALTER COLUMN pvc SET DEFAULT '';
ALTER TABLE cm_small ALTER COLUMN volume_cost SET DEFAULT 0.0;
ALTER TABLE cm_small ALTER COLUMN volume_gib_hours SET DEFAULT 0.0;

-- Node idle per hour: the idle amount, and as allocation cost what was not spread to allocations. Per node
-- and hour, so the rows carry only the node's key (nid) and numbers; 57/60 map nid to the node's idle dim.
CREATE OR REPLACE TEMP TABLE cm_idle AS
WITH x AS (
    SELECT date_trunc('hour', i.ts) AS hour, i.nid, i.i_gpu, i.i_cpu, i.i_ram,
           -- the idle this node gave to allocations (negative)
           -(CASE WHEN k.sp_g THEN i.i_gpu ELSE 0 END + CASE WHEN k.sp_c THEN i.i_cpu ELSE 0 END
             + CASE WHEN k.sp_r THEN i.i_ram ELSE 0 END) AS given
    FROM cm_ni i JOIN cm_k k USING (ts)
), y AS (
    SELECT hour, nid, sum(COLUMNS(* EXCLUDE (hour, nid))) FROM x GROUP BY hour, nid
)
SELECT * FROM y;
