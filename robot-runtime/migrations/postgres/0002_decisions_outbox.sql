-- Decisions, comments and the outbox. A decision is made by officials; a
-- delivery exists only for a final (fully approved) decision, and the
-- database itself refuses anything else.

ALTER TABLE cases ADD COLUMN assigned_to BIGINT;
CREATE INDEX cases_assigned ON cases (assigned_to, state);

CREATE TABLE decisions (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id         BIGINT NOT NULL REFERENCES cases (id),
    draft_id        BIGINT NOT NULL REFERENCES drafts (id),
    outcome         TEXT NOT NULL CHECK (outcome IN ('bifall', 'delvis_bifall', 'avslag')),
    amount_ore      BIGINT NOT NULL CHECK (amount_ore >= 0 AND amount_ore % 100 = 0),
    amended         BOOLEAN NOT NULL,
    amendment       TEXT,
    needs_second    BOOLEAN NOT NULL,
    first_by        BIGINT NOT NULL,
    first_by_name   TEXT NOT NULL,
    first_us        BIGINT NOT NULL,
    second_by       BIGINT,
    second_by_name  TEXT,
    second_us       BIGINT,
    final           BOOLEAN NOT NULL,
    CHECK (second_by IS NULL OR second_by <> first_by),
    CHECK (NOT final OR NOT needs_second OR second_by IS NOT NULL),
    CHECK (NOT amended OR amendment IS NOT NULL)
);
CREATE UNIQUE INDEX decisions_one_final ON decisions (case_id) WHERE final;
CREATE INDEX decisions_case ON decisions (case_id, id);

CREATE FUNCTION decisions_final_is_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.final THEN
        RAISE EXCEPTION 'a final decision cannot be changed';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER decisions_final_is_final BEFORE UPDATE ON decisions
    FOR EACH ROW EXECUTE FUNCTION decisions_final_is_final();

CREATE TABLE comments (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id     BIGINT NOT NULL REFERENCES cases (id),
    user_id     BIGINT NOT NULL,
    user_name   TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_us  BIGINT NOT NULL
);
CREATE INDEX comments_case ON comments (case_id, id);

CREATE TABLE outbox (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id          BIGINT NOT NULL REFERENCES cases (id),
    decision_id      BIGINT NOT NULL UNIQUE REFERENCES decisions (id),
    channel          TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL UNIQUE,
    recipient        TEXT,
    letter_html      TEXT NOT NULL,
    letter_text      TEXT NOT NULL,
    letter_pdf       BYTEA NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'leased', 'delivered', 'failing')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_us  BIGINT NOT NULL,
    lease_owner      TEXT,
    lease_expires_us BIGINT,
    last_error       TEXT,
    receipt          TEXT,
    delivered_us     BIGINT,
    created_us       BIGINT NOT NULL,
    updated_us       BIGINT NOT NULL
);
CREATE INDEX outbox_ready ON outbox (status, next_attempt_us);

CREATE FUNCTION outbox_requires_final_decision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM decisions d WHERE d.id = NEW.decision_id AND d.case_id = NEW.case_id AND d.final) THEN
        RAISE EXCEPTION 'no delivery without an approved decision';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER outbox_requires_final_decision BEFORE INSERT ON outbox
    FOR EACH ROW EXECUTE FUNCTION outbox_requires_final_decision();

CREATE FUNCTION outbox_keeps_its_decision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.case_id <> OLD.case_id OR NEW.decision_id <> OLD.decision_id OR NEW.idempotency_key <> OLD.idempotency_key
       OR NEW.letter_html <> OLD.letter_html OR NEW.letter_text <> OLD.letter_text OR NEW.letter_pdf <> OLD.letter_pdf THEN
        RAISE EXCEPTION 'an outbox item keeps its decision and letter';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER outbox_keeps_its_decision BEFORE UPDATE ON outbox
    FOR EACH ROW EXECUTE FUNCTION outbox_keeps_its_decision();

-- The household members of each case, by the audit log's keyed subject id
-- (HMAC with a key wrapped by the master key): "earlier decisions for the
-- same household" without storing a personnummer or an unkeyed hash of one.
CREATE TABLE case_subjects (
    case_id     BIGINT NOT NULL REFERENCES cases (id),
    subject     BYTEA NOT NULL,
    PRIMARY KEY (case_id, subject)
);
CREATE INDEX case_subjects_subject ON case_subjects (subject);
