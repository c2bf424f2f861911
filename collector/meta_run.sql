-- One meta.run row per collection of one source ($job = collect:<source>); written in its own transaction
-- after the collector's data transaction, so a failed run is recorded while its data stays unchanged.
INSERT INTO meta.run (run_id, job, started_at, finished_at, window_start, window_end, status, rows_written, detail)
VALUES ($run_id, $job, $started_at, $finished_at, $window_start, $window_end, $status, $rows_written,
        $detail::JSON)
