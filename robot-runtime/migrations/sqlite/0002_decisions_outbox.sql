-- Decisions, comments and the outbox. A decision is made by officials; a
-- delivery exists only for a final (fully approved) decision, and the
-- database itself refuses anything else.

ALTER TABLE cases ADD COLUMN assigned_to INTEGER;
CREATE INDEX cases_assigned ON cases (assigned_to, state);

CREATE TABLE decisions (
    id              INTEGER PRIMARY KEY,
    case_id         INTEGER NOT NULL REFERENCES cases (id),
    draft_id        INTEGER NOT NULL REFERENCES drafts (id),
    outcome         TEXT NOT NULL CHECK (outcome IN ('bifall', 'delvis_bifall', 'avslag')),
    amount_ore      INTEGER NOT NULL CHECK (amount_ore >= 0 AND amount_ore % 100 = 0),
    amended         INTEGER NOT NULL CHECK (amended IN (0, 1)),
    amendment       TEXT,
    needs_second    INTEGER NOT NULL CHECK (needs_second IN (0, 1)),
    first_by        INTEGER NOT NULL,
    first_by_name   TEXT NOT NULL,
    first_us        INTEGER NOT NULL,
    second_by       INTEGER,
    second_by_name  TEXT,
    second_us       INTEGER,
    final           INTEGER NOT NULL CHECK (final IN (0, 1)),
    CHECK (second_by IS NULL OR second_by <> first_by),
    CHECK (final = 0 OR needs_second = 0 OR second_by IS NOT NULL),
    CHECK (amended = 0 OR amendment IS NOT NULL)
);
CREATE UNIQUE INDEX decisions_one_final ON decisions (case_id) WHERE final = 1;
CREATE INDEX decisions_case ON decisions (case_id, id);

-- A final decision cannot change.
CREATE TRIGGER decisions_final_is_final BEFORE UPDATE ON decisions
WHEN OLD.final = 1
BEGIN
    SELECT RAISE(ABORT, 'a final decision cannot be changed');
END;

CREATE TABLE comments (
    id          INTEGER PRIMARY KEY,
    case_id     INTEGER NOT NULL REFERENCES cases (id),
    user_id     INTEGER NOT NULL,
    user_name   TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_us  INTEGER NOT NULL
);
CREATE INDEX comments_case ON comments (case_id, id);

CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY,
    case_id          INTEGER NOT NULL REFERENCES cases (id),
    decision_id      INTEGER NOT NULL UNIQUE REFERENCES decisions (id),
    channel          TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL UNIQUE,
    recipient        TEXT,
    letter_html      TEXT NOT NULL,
    letter_text      TEXT NOT NULL,
    letter_pdf       BLOB NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'leased', 'delivered', 'failing')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_us  INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_expires_us INTEGER,
    last_error       TEXT,
    receipt          TEXT,
    delivered_us     INTEGER,
    created_us       INTEGER NOT NULL,
    updated_us       INTEGER NOT NULL
);
CREATE INDEX outbox_ready ON outbox (status, next_attempt_us);

-- No delivery without a final, approved decision for the same case.
CREATE TRIGGER outbox_requires_final_decision BEFORE INSERT ON outbox
WHEN NOT EXISTS (SELECT 1 FROM decisions d WHERE d.id = NEW.decision_id AND d.case_id = NEW.case_id AND d.final = 1)
BEGIN
    SELECT RAISE(ABORT, 'no delivery without an approved decision');
END;

CREATE TRIGGER outbox_keeps_its_decision BEFORE UPDATE OF case_id, decision_id, idempotency_key, letter_html, letter_text, letter_pdf ON outbox
BEGIN
    SELECT RAISE(ABORT, 'an outbox item keeps its decision and letter');
END;

-- The household members of each case, by the audit log's keyed subject id
-- (HMAC with a key wrapped by the master key): "earlier decisions for the
-- same household" without storing a personnummer or an unkeyed hash of one.
CREATE TABLE case_subjects (
    case_id     INTEGER NOT NULL REFERENCES cases (id),
    subject     BLOB NOT NULL,
    PRIMARY KEY (case_id, subject)
);
CREATE INDEX case_subjects_subject ON case_subjects (subject);
