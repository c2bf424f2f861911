-- Replace the kube-state-metrics history of one table inside [$w0, $w1) with the incoming versions, then
-- merge adjacent identical versions. {table}, {keys}, {content}... are whitelisted identifiers (metadata.py).
-- 1. keep the part of a version that runs past the window end
INSERT INTO {table} (source, {keys}, {content}, valid_from, valid_to)
SELECT source, {keys}, {content}, $w1, valid_to FROM {table}
WHERE source = $source AND valid_from < $w1 AND valid_to > $w1;
-- 2. cut versions that start before the window at its start
UPDATE {table} SET valid_to = $w0 WHERE source = $source AND valid_from < $w0 AND valid_to > $w0;
-- 3. drop what lies inside the window
DELETE FROM {table} WHERE source = $source AND valid_from >= $w0 AND valid_from < $w1;
-- 4. the window's versions
INSERT INTO {table} (source, {keys}, {content}, valid_from, valid_to)
SELECT $source, {keys}, {content}, valid_from, valid_to FROM _ksm_incoming;
-- 5. merge a version with the next one when they touch and carry the same content. Only versions ending at
--    or after $w0 can: the history before it was merged when it was written (and re-merging it every window
--    made each window's write grow with the whole history)
CREATE OR REPLACE TEMP TABLE _ksm_merged AS
SELECT {keys}, {first_content}, min(valid_from) AS valid_from, max(valid_to) AS valid_to
FROM (
    SELECT *, sum(CASE WHEN p_valid_to = valid_from AND {same} THEN 0 ELSE 1 END)
                  OVER (PARTITION BY {keys} ORDER BY valid_from) AS grp
    FROM (SELECT *, lag(valid_to) OVER w AS p_valid_to, {lags}
          FROM {table} WHERE source = $source AND valid_to >= $w0
          WINDOW w AS (PARTITION BY {keys} ORDER BY valid_from))
)
GROUP BY {keys}, grp;
DELETE FROM {table} WHERE source = $source AND valid_to >= $w0;
INSERT INTO {table} (source, {keys}, {content}, valid_from, valid_to)
SELECT $source, {keys}, {content}, valid_from, valid_to FROM _ksm_merged;
DROP TABLE _ksm_merged
