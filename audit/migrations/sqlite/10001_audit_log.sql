-- The audit log (crate `audit`). Migration versions 10000–19999 are
-- reserved for it; the runtime's own migrations use lower numbers, and both
-- migrators run with ignore_missing so they can share _sqlx_migrations.
--
-- Invariants: audit_events, audit_nodes and audit_checkpoints are
-- append-only (triggers refuse UPDATE and DELETE); audit_head is a single
-- row that is updated, never deleted; audit_subject_keys rows are deleted by
-- erasure and rewrapped by master-key rotation, nothing else.

CREATE TABLE audit_events (
    seq        INTEGER PRIMARY KEY CHECK (seq >= 0),
    event_id   BLOB    NOT NULL UNIQUE CHECK (length(event_id) = 16),
    kind       TEXT    NOT NULL CHECK (kind IN ('fetched', 'evaluated', 'drafted', 'approved', 'amended', 'returned', 'sent', 'invalid', 'failed', 'requeued', 'closed', 'assigned', 'commented', 'erased')),
    case_ref   TEXT,
    time_us    INTEGER NOT NULL,
    leaf       BLOB    NOT NULL,
    leaf_hash  BLOB    NOT NULL CHECK (length(leaf_hash) = 32)
) STRICT;

CREATE INDEX audit_events_by_case ON audit_events (case_ref, seq) WHERE case_ref IS NOT NULL;

-- Perfect subtree hashes, level >= 1 (level 0 is audit_events.leaf_hash).
CREATE TABLE audit_nodes (
    level INTEGER NOT NULL CHECK (level BETWEEN 1 AND 63),
    idx   INTEGER NOT NULL CHECK (idx >= 0),
    hash  BLOB    NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
) STRICT, WITHOUT ROWID;

-- Signed checkpoints, all kept: the C2SP signed note as stored bytes.
CREATE TABLE audit_checkpoints (
    size       INTEGER PRIMARY KEY CHECK (size > 0),
    root       BLOB    NOT NULL CHECK (length(root) = 32),
    note       BLOB    NOT NULL,
    created_us INTEGER NOT NULL
) STRICT;

-- The sequencer: one row, the tree's right border and the last checkpoint.
CREATE TABLE audit_head (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    size            INTEGER NOT NULL CHECK (size >= 0),
    frontier        BLOB    NOT NULL,
    checkpoint_size INTEGER NOT NULL,
    checkpoint_us   INTEGER NOT NULL
) STRICT;

INSERT INTO audit_head (id, size, frontier, checkpoint_size, checkpoint_us) VALUES (1, 0, x'', 0, 0);

-- Per-subject keys, wrapped by the master key. Erasure deletes rows here.
CREATE TABLE audit_subject_keys (
    key_id        BLOB    PRIMARY KEY CHECK (length(key_id) = 16),
    subject_id    BLOB    NOT NULL UNIQUE CHECK (length(subject_id) = 32),
    master_key_id BLOB    NOT NULL CHECK (length(master_key_id) = 8),
    wrapped       BLOB    NOT NULL,
    created_seq   INTEGER NOT NULL
) STRICT;

-- Log-wide keys (the subject-id HMAC key), wrapped by the master key.
CREATE TABLE audit_keyring (
    purpose       TEXT PRIMARY KEY,
    master_key_id BLOB NOT NULL CHECK (length(master_key_id) = 8),
    wrapped       BLOB NOT NULL
) STRICT;

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_nodes_no_update BEFORE UPDATE ON audit_nodes
BEGIN SELECT RAISE(ABORT, 'audit_nodes is append-only'); END;
CREATE TRIGGER audit_nodes_no_delete BEFORE DELETE ON audit_nodes
BEGIN SELECT RAISE(ABORT, 'audit_nodes is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
BEGIN SELECT RAISE(ABORT, 'audit_head is never deleted'); END;
CREATE TRIGGER audit_keyring_no_delete BEFORE DELETE ON audit_keyring
BEGIN SELECT RAISE(ABORT, 'audit_keyring is never deleted'); END;
