-- The decision record, diarienummer, officials' titles and delegations,
-- kommunicering (FL 25 §) and letters that are not decisions.

-- A new case state, `kommunicering`. Widening a CHECK list changes nothing
-- on disk, so the table's stored schema is edited in place (SQLite's
-- documented procedure for constraint changes) instead of rebuilding
-- `cases`, which other tables reference.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, '''returned_to_manual'', ''sent''', '''returned_to_manual'', ''kommunicering'', ''sent''')
 WHERE type = 'table' AND name = 'cases';
PRAGMA writable_schema = OFF;
-- The DDL below bumps the schema cookie, so every open connection reads the
-- edited table definition again (an edit of sqlite_schema alone does not).

-- The decision record (domain::DecisionRecord as JSON): built at the first
-- approval, completed at the last; the only source of letters and write-backs.
ALTER TABLE decisions ADD COLUMN record TEXT;

-- One diarienummer per case, from a gap-free yearly series.
ALTER TABLE cases ADD COLUMN diarienummer TEXT;
CREATE UNIQUE INDEX cases_diarienummer ON cases (diarienummer);
CREATE TABLE diarium_series (
    series  TEXT NOT NULL,
    year    INTEGER NOT NULL,
    last    INTEGER NOT NULL CHECK (last >= 1),
    PRIMARY KEY (series, year)
);

-- What the letters say about the official who decides.
ALTER TABLE users ADD COLUMN title TEXT;
ALTER TABLE users ADD COLUMN delegation TEXT;

-- Kommunicering: the facts sent to the applicant, the deadline, the reply.
CREATE TABLE kommuniceringar (
    id            INTEGER PRIMARY KEY,
    case_id       INTEGER NOT NULL REFERENCES cases (id),
    draft_id      INTEGER NOT NULL REFERENCES drafts (id),
    facts         TEXT NOT NULL,
    sent_by       INTEGER NOT NULL,
    sent_by_name  TEXT NOT NULL,
    sent_us       INTEGER NOT NULL,
    deadline_us   INTEGER NOT NULL,
    reply         TEXT,
    reply_channel TEXT CHECK (reply_channel IN ('web', 'api', 'eservice')),
    reply_by      TEXT,
    reply_us      INTEGER,
    closed        TEXT CHECK (closed IN ('answered', 'expired')),
    closed_us     INTEGER,
    CHECK ((closed IS NULL) = (closed_us IS NULL)),
    CHECK (closed IS NOT 'answered' OR reply IS NOT NULL)
);
CREATE UNIQUE INDEX kommuniceringar_one_open ON kommuniceringar (case_id) WHERE closed IS NULL;
CREATE INDEX kommuniceringar_due ON kommuniceringar (closed, deadline_us);

-- The outbox carries decision letters and kommuniceringsbrev. A letter row
-- needs what it stands for: a final decision, or a kommunicering an
-- official sent.
ALTER TABLE outbox RENAME TO outbox_v1;
DROP TRIGGER outbox_requires_final_decision;
DROP TRIGGER outbox_keeps_its_decision;
DROP INDEX outbox_ready;
CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY,
    case_id          INTEGER NOT NULL REFERENCES cases (id),
    kind             TEXT NOT NULL DEFAULT 'beslut' CHECK (kind IN ('beslut', 'kommunicering')),
    decision_id      INTEGER UNIQUE REFERENCES decisions (id),
    kommunicering_id INTEGER UNIQUE REFERENCES kommuniceringar (id),
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
    updated_us       INTEGER NOT NULL,
    CHECK ((kind = 'beslut') = (decision_id IS NOT NULL)),
    CHECK ((kind = 'kommunicering') = (kommunicering_id IS NOT NULL))
);
INSERT INTO outbox (id, case_id, kind, decision_id, channel, idempotency_key, recipient, letter_html, letter_text, letter_pdf,
                    status, attempts, next_attempt_us, lease_owner, lease_expires_us, last_error, receipt, delivered_us,
                    created_us, updated_us)
SELECT id, case_id, 'beslut', decision_id, channel, idempotency_key, recipient, letter_html, letter_text, letter_pdf,
       status, attempts, next_attempt_us, lease_owner, lease_expires_us, last_error, receipt, delivered_us,
       created_us, updated_us
  FROM outbox_v1;
DROP TABLE outbox_v1;
CREATE INDEX outbox_ready ON outbox (status, next_attempt_us);
CREATE INDEX outbox_case ON outbox (case_id, id);

CREATE TRIGGER outbox_requires_final_decision BEFORE INSERT ON outbox
WHEN NEW.kind = 'beslut'
 AND NOT EXISTS (SELECT 1 FROM decisions d WHERE d.id = NEW.decision_id AND d.case_id = NEW.case_id AND d.final = 1)
BEGIN
    SELECT RAISE(ABORT, 'no delivery without an approved decision');
END;

CREATE TRIGGER outbox_requires_kommunicering BEFORE INSERT ON outbox
WHEN NEW.kind = 'kommunicering'
 AND NOT EXISTS (SELECT 1 FROM kommuniceringar k WHERE k.id = NEW.kommunicering_id AND k.case_id = NEW.case_id)
BEGIN
    SELECT RAISE(ABORT, 'no kommuniceringsbrev without a kommunicering an official sent');
END;

CREATE TRIGGER outbox_keeps_its_decision BEFORE UPDATE OF case_id, kind, decision_id, kommunicering_id, idempotency_key, letter_html, letter_text, letter_pdf ON outbox
BEGIN
    SELECT RAISE(ABORT, 'an outbox item keeps its decision and letter');
END;

-- A recorded kommunicering keeps what was sent; only its reply and closing are written, once.
CREATE TRIGGER kommuniceringar_keep_what_was_sent BEFORE UPDATE OF case_id, draft_id, facts, sent_by, sent_us, deadline_us ON kommuniceringar
BEGIN
    SELECT RAISE(ABORT, 'a kommunicering keeps what was sent');
END;
CREATE TRIGGER kommuniceringar_closed_is_closed BEFORE UPDATE ON kommuniceringar
WHEN OLD.closed IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'a closed kommunicering cannot be changed');
END;

-- A final decision's record is what was decided; it never changes (the
-- decisions_final_is_final trigger covers the whole row).
