-- Latest scored window per (model, segment): what `neocost drift status` prints and the exporter exports.
CREATE OR REPLACE VIEW mart.drift_status AS
SELECT model, segment, method, window_start AS latest_window, window_end AS latest_window_end,
       score, p_value, threshold, alpha_corrected, n, state, drifted,
       CASE WHEN state = 'drift' THEN onset END AS onset, reference
FROM mart.embedding_drift
QUALIFY row_number() OVER (PARTITION BY model, segment ORDER BY window_start DESC) = 1;
