-- The audit log (crate `audit`). Migration versions 10000–19999 are
-- reserved for it; the runtime's own migrations use lower numbers, and both
-- migrators run with ignore_missing so they can share _sqlx_migrations.
--
-- Invariants: audit_events, audit_nodes and audit_checkpoints are
-- append-only (triggers refuse UPDATE, DELETE and TRUNCATE); audit_head is a
-- single row that is updated, never deleted, and whose row lock is the one
-- sequencer; audit_subject_keys rows are deleted by erasure and rewrapped by
-- master-key rotation, nothing else.

CREATE TABLE audit_events (
    seq        BIGINT PRIMARY KEY CHECK (seq >= 0),
    event_id   BYTEA  NOT NULL UNIQUE CHECK (octet_length(event_id) = 16),
    kind       TEXT   NOT NULL CHECK (kind IN ('fetched', 'evaluated', 'drafted', 'approved', 'amended', 'returned', 'sent', 'invalid', 'failed', 'requeued', 'closed', 'assigned', 'commented', 'erased')),
    case_ref   TEXT,
    time_us    BIGINT NOT NULL,
    leaf       BYTEA  NOT NULL,
    leaf_hash  BYTEA  NOT NULL CHECK (octet_length(leaf_hash) = 32)
);

CREATE INDEX audit_events_by_case ON audit_events (case_ref, seq) WHERE case_ref IS NOT NULL;

CREATE TABLE audit_nodes (
    level SMALLINT NOT NULL CHECK (level BETWEEN 1 AND 63),
    idx   BIGINT   NOT NULL CHECK (idx >= 0),
    hash  BYTEA    NOT NULL CHECK (octet_length(hash) = 32),
    PRIMARY KEY (level, idx)
);

CREATE TABLE audit_checkpoints (
    size       BIGINT PRIMARY KEY CHECK (size > 0),
    root       BYTEA  NOT NULL CHECK (octet_length(root) = 32),
    note       BYTEA  NOT NULL,
    created_us BIGINT NOT NULL
);

CREATE TABLE audit_head (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    size            BIGINT  NOT NULL CHECK (size >= 0),
    frontier        BYTEA   NOT NULL,
    checkpoint_size BIGINT  NOT NULL,
    checkpoint_us   BIGINT  NOT NULL
);

INSERT INTO audit_head (id, size, frontier, checkpoint_size, checkpoint_us) VALUES (1, 0, '\x'::bytea, 0, 0);

CREATE TABLE audit_subject_keys (
    key_id        BYTEA  PRIMARY KEY CHECK (octet_length(key_id) = 16),
    subject_id    BYTEA  NOT NULL UNIQUE CHECK (octet_length(subject_id) = 32),
    master_key_id BYTEA  NOT NULL CHECK (octet_length(master_key_id) = 8),
    wrapped       BYTEA  NOT NULL,
    created_seq   BIGINT NOT NULL
);

CREATE TABLE audit_keyring (
    purpose       TEXT  PRIMARY KEY,
    master_key_id BYTEA NOT NULL CHECK (octet_length(master_key_id) = 8),
    wrapped       BYTEA NOT NULL
);

CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_nodes_append_only BEFORE UPDATE OR DELETE ON audit_nodes
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_nodes_no_truncate BEFORE TRUNCATE ON audit_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_keyring_no_delete BEFORE DELETE ON audit_keyring
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
