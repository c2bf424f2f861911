-- Per window and (model, segment): the primary method's score, p-value, floor and decision.
-- The exporter emits neocost_embedding_drift_score (score), neocost_embedding_drift_p_value (p_value) and
-- neocost_embedding_drift_drifted (drifted) from mart.drift_status, labelled {model, segment, method}.
CREATE OR REPLACE VIEW mart.embedding_drift AS
SELECT model, segment, window_start, window_end, method,
       effect AS score, p_value, floor AS threshold, alpha_corrected, n, n_ref,
       state, (state = 'drift')::INTEGER AS drifted, streak, persistence, onset, reference,
       TRY_CAST(json_extract(details, '$.raw_cosine_distance') AS DOUBLE) AS raw_cosine_distance,
       TRY_CAST(json_extract(details, '$.domain_auc') AS DOUBLE) AS domain_auc
FROM model.drift_score
WHERE is_primary;
