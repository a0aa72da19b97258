-- Runs and logs that tell the truth (issue 14, items 8 and 9).
--
-- The processes sharing this database, each with a heartbeat: a holder of
-- a robot lock, a lease or a running run whose node has not been seen for
-- a few heartbeats (or whose process is gone on this host) is dead, and
-- what it held is taken over at once (`store/nodes.rs`).
CREATE TABLE nodes (
    id           TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    started_us   INTEGER NOT NULL,
    last_seen_us INTEGER NOT NULL
);

-- A run whose process died is closed as `aborted`, with what it stored.
-- Widening a CHECK list changes nothing on disk: the stored definition is
-- edited in place, as in 0004 and 0007.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (status IN (''running'', ''succeeded'', ''failed''))',
                          'CHECK (status IN (''running'', ''succeeded'', ''failed'', ''aborted''))')
 WHERE type = 'table' AND name = 'robot_runs';
PRAGMA writable_schema = OFF;
-- Read the edited schema again before adding columns (see 0008).
PRAGMA writable_schema = RESET;

-- One application followed from the robot run through the case to the
-- outbox delivery: made at intake, carried into every log line's span.
-- Work items and outbox rows reach it through their case.
ALTER TABLE cases ADD COLUMN correlation_id TEXT;
CREATE INDEX robot_runs_running ON robot_runs (status) WHERE status = 'running';
