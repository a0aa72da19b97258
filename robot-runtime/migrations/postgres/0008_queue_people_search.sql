-- The queue as officials work it (issue 12): who a case is about, the
-- application's own received date, a search index, and what the queue
-- flags. Cases stored before this migration are filled in at start by
-- `Store::backfill_queue` (it reads the stored documents with the robots'
-- rulesets); `applied_us IS NULL` marks a case not yet done.

-- The people a case is about (`sandbox::Input::people`), the applicant
-- first: role as the type names it, name, personnummer (12 digits).
CREATE TABLE case_people (
    case_id      BIGINT NOT NULL REFERENCES cases (id),
    pos          INTEGER NOT NULL,
    role         TEXT NOT NULL,
    name         TEXT,
    personnummer TEXT NOT NULL,
    PRIMARY KEY (case_id, pos)
);

-- The search index: every folded word of the people's names and
-- personnummer, the diarienummer and the external id, with its suffixes of
-- three characters or more (`store/search.rs`). A query word matches a
-- case when some term starts with it: an indexed range, no scan. Byte
-- order (COLLATE "C") so the range is the same as SQLite's.
CREATE TABLE case_terms (
    term    TEXT COLLATE "C" NOT NULL,
    case_id BIGINT NOT NULL,
    PRIMARY KEY (term, case_id)
);

-- A word of a search tested for one case (every word but the one the
-- query starts from).
CREATE INDEX case_terms_case ON case_terms (case_id, term);

-- When the application says it was received (its `received_at`): the
-- queue's days count from it.
ALTER TABLE cases ADD COLUMN applied_us BIGINT;
-- The first approver of the decision waiting for a second official.
ALTER TABLE cases ADD COLUMN first_by BIGINT;
-- How many assessments the draft asks the official to confirm.
ALTER TABLE cases ADD COLUMN assessments INTEGER NOT NULL DEFAULT 0;

UPDATE cases SET first_by = (SELECT d.first_by FROM decisions d WHERE d.case_id = cases.id AND NOT d.final ORDER BY d.id DESC LIMIT 1)
 WHERE state = 'awaiting_second_approval';

CREATE INDEX cases_unfilled ON cases (id) WHERE applied_us IS NULL;
CREATE INDEX cases_days ON cases (state, applied_us, id);
CREATE INDEX cases_days_all ON cases (applied_us, id);
CREATE INDEX cases_period_state ON cases (state, period, id);
CREATE INDEX cases_second ON cases (state, first_by);
CREATE INDEX cases_outcome_days ON cases (state, outcome, applied_us, id);
CREATE INDEX cases_outcome_days_all ON cases (outcome, applied_us, id);
