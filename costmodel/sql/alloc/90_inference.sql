-- Inference counters with the pod's tags; the model is the pod's model tag (else what the server reports).
INSERT INTO mart.inference_hourly BY NAME
SELECT date_trunc('hour', i.ts) AS hour, i.server, i.namespace, i.pod, i.model AS served_model,
       CASE WHEN coalesce(t.model, '__unallocated__') <> '__unallocated__' THEN t.model
            ELSE coalesce(nullif(i.model, ''), '__unallocated__') END AS model,
       coalesce(t.team, '__unallocated__') AS team, coalesce(t.project, '__unallocated__') AS project,
       coalesce(t.env, '__unallocated__') AS env,
       sum(coalesce(i.requests, i.successes + coalesce(i.errors, 0), 0)) AS requests,
       sum(coalesce(i.errors, 0)) AS errors,
       sum(i.input_tokens) AS input_tokens, sum(i.output_tokens) AS output_tokens,
       sum(i.cached_tokens) AS cached_tokens,
       sum(i.prefill_seconds) AS prefill_seconds, sum(i.decode_seconds) AS decode_seconds
FROM raw.inference i
LEFT JOIN cm_pdim d ON d.namespace = i.namespace AND d.pod = i.pod
LEFT JOIN cm_eseg s ON s.pid = d.pid AND i.ts >= s.vf AND i.ts < s.vt
LEFT JOIN cm_tags t ON t.tid = s.tid
WHERE i.ts >= $start AND i.ts < $end
GROUP BY ALL;
