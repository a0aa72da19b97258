-- Runs and logs that tell the truth (issue 14, items 8 and 9).
--
-- The processes sharing this database, each with a heartbeat: a holder of
-- a robot lock, a lease or a running run whose node has not been seen for
-- a few heartbeats (or whose process is gone on this host) is dead, and
-- what it held is taken over at once (`store/nodes.rs`).
CREATE TABLE nodes (
    id           TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    pid          BIGINT NOT NULL,
    started_us   BIGINT NOT NULL,
    last_seen_us BIGINT NOT NULL
);

-- A run whose process died is closed as `aborted`, with what it stored.
ALTER TABLE robot_runs DROP CONSTRAINT robot_runs_status_check;
ALTER TABLE robot_runs ADD CONSTRAINT robot_runs_status_check CHECK (status IN ('running', 'succeeded', 'failed', 'aborted'));

-- One application followed from the robot run through the case to the
-- outbox delivery: made at intake, carried into every log line's span.
-- Work items and outbox rows reach it through their case.
ALTER TABLE cases ADD COLUMN correlation_id TEXT;
CREATE INDEX robot_runs_running ON robot_runs (status) WHERE status = 'running';
