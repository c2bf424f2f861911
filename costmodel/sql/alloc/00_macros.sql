-- Label keys are compared in kube-state-metrics' spelling (neocost.labels.sanitize_label_key, in SQL).
CREATE OR REPLACE TEMP MACRO cm_sanitize(k) AS
    lower(regexp_replace(regexp_replace(k, '([a-z0-9])([A-Z])', '\1_\2', 'g'), '[^a-zA-Z0-9_]', '_', 'g'));
-- A label map as a list of (k: sanitised key, v: value), sanitised once per metadata version (10_versions.sql).
CREATE OR REPLACE TEMP MACRO cm_entries(labels) AS
    list_transform(map_entries(labels), lambda e: {'k': cm_sanitize(e.key), 'v': e.value});
-- A tag from such entries: `keys` = the configured label key, then the sources renamed to it (labels.renames);
-- the first key present with a non-empty value wins.
CREATE OR REPLACE TEMP MACRO cm_tag(entries, keys) AS
    list_filter(list_transform(keys, lambda k: nullif(list_filter(entries, lambda e: e.k = k)[1].v, '')),
                lambda v: v IS NOT NULL)[1];
-- GPU units of one request row (NULL for other resources): a time-sliced GPU is 1/replicas, a MIG slice g of
-- the card's compute slices; a GPU set only as a limit counts by its limit.
CREATE OR REPLACE TEMP MACRO cm_gpu_units(resource, request, lim, replicas, slices) AS
    CASE WHEN resource = 'nvidia_com_gpu' THEN coalesce(request, lim, 0) / replicas
         WHEN resource LIKE 'nvidia_com_mig_%'
             THEN coalesce(request, lim, 0)
                  * TRY_CAST(regexp_extract(resource, '^nvidia_com_mig_(\d+)g', 1) AS DOUBLE) / slices
         END;
