-- Metadata history per object ({keys}), merged over the two sources into disjoint segments. Per object and
-- time: an API version where it was observed, else kube-state-metrics, else the API version stretched back.
-- An API version opened at the object's creationTimestamp only holds the labels seen at the first listing, so
-- it counts as observed from the last kube-state-metrics change inside it onwards (before that ksm saw the
-- object's earlier states). The first segment of each object is stretched back in time, so a pod seen by
-- metrics before its metadata still gets its labels. Template: {out}, {table}, {keys}, {cols}, {select}.
CREATE OR REPLACE TEMP TABLE {out} AS
WITH v AS (
    SELECT source = 'api' AS api, {keys}, {cols}, valid_from AS vf,
           coalesce(valid_to, 'infinity'::TIMESTAMP) AS vt
    FROM {table}
), trust AS (
    SELECT {a_keys}, a.vf, greatest(a.vf, coalesce(max(k.vf), a.vf)) AS tf
    FROM v a LEFT JOIN v k ON {ak_eq} AND NOT k.api AND k.vf > a.vf AND k.vf < a.vt
    WHERE a.api GROUP BY {a_keys}, a.vf
), c AS (
    SELECT v.*, coalesce(t.tf, v.vf) AS tf
    FROM v LEFT JOIN trust t ON {vt_eq} AND v.api AND t.vf = v.vf
), b AS (
    SELECT DISTINCT {keys}, t FROM (
        SELECT {keys}, vf AS t FROM c UNION ALL SELECT {keys}, vt FROM c UNION ALL SELECT {keys}, tf FROM c)
), s AS (
    SELECT {keys}, t AS s, lead(t) OVER (PARTITION BY {keys} ORDER BY t) AS e FROM b
), pick AS (
    SELECT {s_keys}, s.s, s.e, {c_cols}
    FROM s JOIN c ON {sc_eq} AND c.vf <= s.s AND c.vt >= s.e
    WHERE s.e IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY {s_keys}, s.s
                               ORDER BY CASE WHEN c.api AND c.tf <= s.s THEN 0 WHEN NOT c.api THEN 1 ELSE 2 END,
                                        c.vf DESC) = 1
), fb AS (
    SELECT {s_keys}, s.s, {c_cols}
    FROM s JOIN c ON {sc_eq} AND c.vf <= s.s AND c.vt >= s.e AND c.api
    WHERE s.e IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY {s_keys}, s.s ORDER BY c.vf DESC) = 1
), m AS (
    SELECT {p_keys}, p.s, p.e, {merged}
    FROM pick p LEFT JOIN fb f ON {pf_eq} AND f.s = p.s
)
SELECT {keys},
       CASE WHEN row_number() OVER (PARTITION BY {keys} ORDER BY s) = 1 THEN '-infinity'::TIMESTAMP ELSE s END
           AS vf,
       e AS vt, {select}
FROM (SELECT * REPLACE (cm_entries(labels) AS labels, cm_entries(fb_labels) AS fb_labels) FROM m);
