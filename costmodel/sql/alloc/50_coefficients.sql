-- The allocation basis is linear in each container's per-interval cost, so it reduces to per-interval
-- coefficients (cm_k, one row per interval) computed from per-node sums (cm_na); the roll-up then applies
-- them row by row:
--   idle received of resource x  = a_x * x_cost + b_x        (weighted: a = idle/alloc; even: b = idle/n)
--   own + idle                   = o
--   shared cost, shared pod      = -sg * o                   (sg = 1 when the shared cost is spread)
--   shared cost, tenant          = sw * o + sn               (weighted: sw = S/W; even: sn = S/N)
CREATE OR REPLACE TEMP TABLE cm_na AS
SELECT ts, nid,
       sum(gpu_cost) AS a_gpu, sum(cpu_cost) AS a_cpu, sum(ram_cost) AS a_ram, sum(gpu_hours) AS a_gh,
       sum(gpu_cost) FILTER (WHERE is_shared) AS s_gpu, sum(cpu_cost) FILTER (WHERE is_shared) AS s_cpu,
       sum(ram_cost) FILTER (WHERE is_shared) AS s_ram,
       count(*) AS n, count(*) FILTER (WHERE is_shared) AS n_s
FROM cm_ctr GROUP BY ts, nid;

CREATE OR REPLACE TEMP TABLE cm_ni AS
SELECT n.ts, n.nid, greatest(n.gpu_cost - coalesce(a.a_gpu, 0), 0) AS i_gpu,
       greatest(n.cpu_cost - coalesce(a.a_cpu, 0), 0) AS i_cpu, greatest(n.ram_cost - coalesce(a.a_ram, 0), 0) AS i_ram
FROM cm_node_iv n LEFT JOIN cm_na a USING (ts, nid);

CREATE OR REPLACE TEMP TABLE cm_k AS
WITH i AS (
    SELECT ts, sum(i_gpu) AS ig, sum(i_cpu) AS ic, sum(i_ram) AS ir FROM cm_ni GROUP BY ts
), a AS (
    SELECT ts, sum(a_gpu) AS ag, sum(a_cpu) AS ac, sum(a_ram) AS ar, sum(n) AS n,
           coalesce(sum(s_gpu), 0) AS sgc, coalesce(sum(s_cpu), 0) AS scc, coalesce(sum(s_ram), 0) AS src,
           coalesce(sum(n_s), 0) AS ns
    FROM cm_na GROUP BY ts
), e AS (
    SELECT ts, sum(coalesce(tx_bytes, 0)) / 1073741824.0 * $egress_gib AS se
    FROM raw.pod_network
    WHERE ts >= $start AND ts < $end AND list_contains($shared::VARCHAR[], namespace)
    GROUP BY ts
), f AS (
    SELECT coalesce(i.ts, a.ts, e.ts) AS ts, coalesce(i.ig, 0) AS ig, coalesce(i.ic, 0) AS ic,
           coalesce(i.ir, 0) AS ir, coalesce(a.ag, 0) AS ag, coalesce(a.ac, 0) AS ac, coalesce(a.ar, 0) AS ar,
           coalesce(a.n, 0) AS n, coalesce(a.sgc, 0) AS sgc, coalesce(a.scc, 0) AS scc, coalesce(a.src, 0) AS src,
           coalesce(a.ns, 0) AS ns, coalesce(e.se, 0) AS se
    FROM i FULL JOIN a USING (ts) FULL JOIN e USING (ts)
), g AS (
    SELECT *,
           CASE $idle_mode WHEN 'weighted' THEN ag > 0 WHEN 'even' THEN n > 0 ELSE false END AS sp_g,
           CASE $idle_mode WHEN 'weighted' THEN ac > 0 WHEN 'even' THEN n > 0 ELSE false END AS sp_c,
           CASE $idle_mode WHEN 'weighted' THEN ar > 0 WHEN 'even' THEN n > 0 ELSE false END AS sp_r
    FROM f
), h AS (
    SELECT *,
           CASE WHEN sp_g AND $idle_mode = 'weighted' THEN ig / ag ELSE 0 END AS a_g,
           CASE WHEN sp_c AND $idle_mode = 'weighted' THEN ic / ac ELSE 0 END AS a_c,
           CASE WHEN sp_r AND $idle_mode = 'weighted' THEN ir / ar ELSE 0 END AS a_r,
           CASE WHEN sp_g AND $idle_mode = 'even' THEN ig / n ELSE 0 END AS b_g,
           CASE WHEN sp_c AND $idle_mode = 'even' THEN ic / n ELSE 0 END AS b_c,
           CASE WHEN sp_r AND $idle_mode = 'even' THEN ir / n ELSE 0 END AS b_r
    FROM g
), o AS (
    -- S: shared pods' own + received idle + shared egress; W: tenants' own + received idle; N: tenants
    SELECT *,
           sgc * (1 + a_g) + scc * (1 + a_c) + src * (1 + a_r) + ns * (b_g + b_c + b_r) + se AS s_sum,
           (ag - sgc) * (1 + a_g) + (ac - scc) * (1 + a_c) + (ar - src) * (1 + a_r) + (n - ns) * (b_g + b_c + b_r)
               AS w_sum,
           n - ns AS w_n
    FROM h
)
SELECT ts, a_g, a_c, a_r, b_g, b_c, b_r, sp_g, sp_c, sp_r,
       CASE $shared_mode WHEN 'weighted' THEN w_sum > 0 WHEN 'even' THEN w_n > 0 ELSE false END AS spread,
       CASE WHEN $shared_mode = 'weighted' AND w_sum > 0 THEN s_sum / w_sum ELSE 0 END AS sw,
       CASE WHEN $shared_mode = 'even' AND w_n > 0 THEN s_sum / w_n ELSE 0 END AS sn
FROM o;
