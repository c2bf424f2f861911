-- Label keys are compared in kube-state-metrics' spelling (neocost.labels.sanitize_label_key, in SQL).
CREATE OR REPLACE TEMP MACRO cm_sanitize(k) AS
    lower(regexp_replace(regexp_replace(k, '([a-z0-9])([A-Z])', '\1_\2', 'g'), '[^a-zA-Z0-9_]', '_', 'g'));
-- A tag from a label map: `keys` = the configured label key, then the sources renamed to it (labels.renames);
-- the first key present with a non-empty value wins.
CREATE OR REPLACE TEMP MACRO cm_tag(labels, keys) AS
    list_filter(list_transform(keys, lambda k: nullif(list_filter(map_entries(labels),
                                                                  lambda e: cm_sanitize(e.key) = k)[1].value, '')),
                lambda v: v IS NOT NULL)[1];
