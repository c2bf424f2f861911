-- Label keys are compared in kube-state-metrics' spelling (neocost.labels.sanitize_label_key, in SQL).
CREATE OR REPLACE TEMP MACRO cm_sanitize(k) AS
    lower(regexp_replace(regexp_replace(k, '([a-z0-9])([A-Z])', '\1_\2', 'g'), '[^a-zA-Z0-9_]', '_', 'g'));
CREATE OR REPLACE TEMP MACRO cm_tag(labels, key) AS
    nullif(list_filter(map_entries(labels), lambda e: cm_sanitize(e.key) = key)[1].value, '');
