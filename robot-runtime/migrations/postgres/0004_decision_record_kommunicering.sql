-- The decision record, diarienummer, officials' titles and delegations,
-- kommunicering (FL 25 §) and letters that are not decisions.

ALTER TABLE cases DROP CONSTRAINT cases_state_check;
ALTER TABLE cases ADD CONSTRAINT cases_state_check CHECK (state IN ('received', 'evaluated', 'awaiting_approval',
    'awaiting_second_approval', 'approved', 'amended', 'returned_to_manual', 'kommunicering', 'sent', 'closed', 'invalid', 'failed'));

-- The decision record (domain::DecisionRecord as JSON): built at the first
-- approval, completed at the last; the only source of letters and write-backs.
ALTER TABLE decisions ADD COLUMN record TEXT;

-- One diarienummer per case, from a gap-free yearly series.
ALTER TABLE cases ADD COLUMN diarienummer TEXT;
CREATE UNIQUE INDEX cases_diarienummer ON cases (diarienummer);
CREATE TABLE diarium_series (
    series  TEXT NOT NULL,
    year    INTEGER NOT NULL,
    last    BIGINT NOT NULL CHECK (last >= 1),
    PRIMARY KEY (series, year)
);

-- What the letters say about the official who decides.
ALTER TABLE users ADD COLUMN title TEXT;
ALTER TABLE users ADD COLUMN delegation TEXT;

-- Kommunicering: the facts sent to the applicant, the deadline, the reply.
CREATE TABLE kommuniceringar (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id       BIGINT NOT NULL REFERENCES cases (id),
    draft_id      BIGINT NOT NULL REFERENCES drafts (id),
    facts         TEXT NOT NULL,
    sent_by       BIGINT NOT NULL,
    sent_by_name  TEXT NOT NULL,
    sent_us       BIGINT NOT NULL,
    deadline_us   BIGINT NOT NULL,
    reply         TEXT,
    reply_channel TEXT CHECK (reply_channel IN ('web', 'api', 'eservice')),
    reply_by      TEXT,
    reply_us      BIGINT,
    closed        TEXT CHECK (closed IN ('answered', 'expired')),
    closed_us     BIGINT,
    CHECK ((closed IS NULL) = (closed_us IS NULL)),
    CHECK (closed IS DISTINCT FROM 'answered' OR reply IS NOT NULL)
);
CREATE UNIQUE INDEX kommuniceringar_one_open ON kommuniceringar (case_id) WHERE closed IS NULL;
CREATE INDEX kommuniceringar_due ON kommuniceringar (closed, deadline_us);

CREATE FUNCTION kommuniceringar_keep_what_was_sent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.closed IS NOT NULL THEN
        RAISE EXCEPTION 'a closed kommunicering cannot be changed';
    END IF;
    IF NEW.case_id <> OLD.case_id OR NEW.draft_id <> OLD.draft_id OR NEW.facts <> OLD.facts
       OR NEW.sent_by <> OLD.sent_by OR NEW.sent_us <> OLD.sent_us OR NEW.deadline_us <> OLD.deadline_us THEN
        RAISE EXCEPTION 'a kommunicering keeps what was sent';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER kommuniceringar_keep_what_was_sent BEFORE UPDATE ON kommuniceringar
    FOR EACH ROW EXECUTE FUNCTION kommuniceringar_keep_what_was_sent();

-- The outbox carries decision letters and kommuniceringsbrev.
ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'beslut' CHECK (kind IN ('beslut', 'kommunicering'));
ALTER TABLE outbox ALTER COLUMN decision_id DROP NOT NULL;
ALTER TABLE outbox ADD COLUMN kommunicering_id BIGINT UNIQUE REFERENCES kommuniceringar (id);
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_decision CHECK ((kind = 'beslut') = (decision_id IS NOT NULL));
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_kommunicering CHECK ((kind = 'kommunicering') = (kommunicering_id IS NOT NULL));
CREATE INDEX outbox_case ON outbox (case_id, id);

CREATE OR REPLACE FUNCTION outbox_requires_final_decision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind = 'beslut' AND NOT EXISTS (
        SELECT 1 FROM decisions d WHERE d.id = NEW.decision_id AND d.case_id = NEW.case_id AND d.final) THEN
        RAISE EXCEPTION 'no delivery without an approved decision';
    END IF;
    IF NEW.kind = 'kommunicering' AND NOT EXISTS (
        SELECT 1 FROM kommuniceringar k WHERE k.id = NEW.kommunicering_id AND k.case_id = NEW.case_id) THEN
        RAISE EXCEPTION 'no kommuniceringsbrev without a kommunicering an official sent';
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION outbox_keeps_its_decision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.case_id <> OLD.case_id OR NEW.kind <> OLD.kind
       OR NEW.decision_id IS DISTINCT FROM OLD.decision_id OR NEW.kommunicering_id IS DISTINCT FROM OLD.kommunicering_id
       OR NEW.idempotency_key <> OLD.idempotency_key
       OR NEW.letter_html <> OLD.letter_html OR NEW.letter_text <> OLD.letter_text OR NEW.letter_pdf <> OLD.letter_pdf THEN
        RAISE EXCEPTION 'an outbox item keeps its decision and letter';
    END IF;
    RETURN NEW;
END $$;
