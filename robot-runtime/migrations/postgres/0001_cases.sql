-- The case store. Times are microseconds since 1970-01-01 UTC.

CREATE TABLE robots (
    name        TEXT PRIMARY KEY,
    paused      BOOLEAN NOT NULL DEFAULT FALSE,
    paused_reason TEXT,
    updated_us  BIGINT NOT NULL
);

CREATE TABLE robot_runs (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    robot       TEXT NOT NULL,
    fire_us     BIGINT NOT NULL,
    trigger     TEXT NOT NULL CHECK (trigger IN ('schedule', 'catch_up', 'manual')),
    status      TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    owner       TEXT NOT NULL,
    started_us  BIGINT NOT NULL,
    finished_us BIGINT,
    fetched     BIGINT NOT NULL DEFAULT 0,
    duplicates  BIGINT NOT NULL DEFAULT 0,
    rejected    BIGINT NOT NULL DEFAULT 0,
    error       TEXT,
    UNIQUE (robot, fire_us)
);

CREATE TABLE robot_locks (
    robot       TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    expires_us  BIGINT NOT NULL
);

CREATE TABLE cases (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source          TEXT NOT NULL,
    external_id     TEXT NOT NULL,
    source_ref      TEXT NOT NULL,
    robot           TEXT NOT NULL,
    run_id          BIGINT REFERENCES robot_runs (id),
    state           TEXT NOT NULL CHECK (state IN ('received', 'evaluated', 'awaiting_approval', 'awaiting_second_approval', 'approved',
                        'amended', 'returned_to_manual', 'sent', 'closed', 'invalid', 'failed')),
    state_reason    TEXT,
    period          TEXT,
    ruleset_name    TEXT,
    ruleset_version TEXT,
    ruleset_hash    TEXT,
    outcome         TEXT CHECK (outcome IN ('bifall', 'delvis_bifall', 'avslag', 'manuell')),
    amount_ore      BIGINT,
    received_us     BIGINT NOT NULL,
    updated_us      BIGINT NOT NULL,
    UNIQUE (source, external_id)
);
CREATE INDEX cases_state ON cases (state, updated_us);
CREATE INDEX cases_run ON cases (run_id);

CREATE TABLE applications (
    case_id     BIGINT PRIMARY KEY REFERENCES cases (id),
    document    BYTEA NOT NULL,
    register    TEXT,
    enriched_us BIGINT
);

CREATE TABLE drafts (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id     BIGINT NOT NULL REFERENCES cases (id),
    draft       TEXT NOT NULL,
    created_us  BIGINT NOT NULL
);
CREATE INDEX drafts_case ON drafts (case_id, id);

CREATE TABLE work_items (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id         BIGINT NOT NULL UNIQUE REFERENCES cases (id),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'leased', 'done', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_us BIGINT NOT NULL,
    lease_owner     TEXT,
    done_by         TEXT,
    lease_expires_us BIGINT,
    last_error      TEXT,
    updated_us      BIGINT NOT NULL
);
CREATE INDEX work_ready ON work_items (status, next_attempt_us);
