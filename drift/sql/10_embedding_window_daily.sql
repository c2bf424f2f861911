-- Hourly (or any) window summaries merged into UTC days by plain addition: n and every component of s1.
-- The same merge rebuilds a reference period without rereading raw embeddings.
CREATE OR REPLACE VIEW stg.embedding_window_daily AS
WITH parts AS (
    SELECT model, segment, date_trunc('day', window_start) AS day,
           unnest(range(1, len(s1) + 1)) AS i, unnest(s1) AS v
    FROM stg.embedding_window
), sums AS (
    SELECT model, segment, day, i, fsum(v) AS v FROM parts GROUP BY model, segment, day, i
), counts AS (
    SELECT model, segment, date_trunc('day', window_start) AS day, sum(n)::BIGINT AS n, count(*) AS windows,
           min(window_start) AS first_window, max(window_end) AS last_window_end, max(dim) AS dim
    FROM stg.embedding_window GROUP BY model, segment, date_trunc('day', window_start)
)
SELECT c.model, c.segment, c.day, c.n, c.windows, c.first_window, c.last_window_end, c.dim,
       list(s.v ORDER BY s.i) AS s1
FROM counts c JOIN sums s USING (model, segment, day)
GROUP BY c.model, c.segment, c.day, c.n, c.windows, c.first_window, c.last_window_end, c.dim;
