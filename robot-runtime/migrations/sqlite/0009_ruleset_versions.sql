-- The rule author's workbench (issue 13): published ruleset versions with
-- their files, activation requests decided by a second person, and shadow
-- reports. A version is content-addressed by the ruleset's own hash
-- (`sandbox::Ruleset::hash`); once stored, neither it nor its files change.
CREATE TABLE ruleset_versions (
    hash            TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    version         TEXT NOT NULL,
    casework_type   TEXT NOT NULL,
    description     TEXT NOT NULL,
    -- The version's own tests (its tests/ folder, stored with it) when it
    -- was published; an activation needs failed = 0.
    tests_passed    INTEGER NOT NULL,
    tests_failed    INTEGER NOT NULL,
    published_by    TEXT NOT NULL,
    published_us    INTEGER NOT NULL
);
CREATE INDEX ruleset_versions_type ON ruleset_versions (casework_type, published_us);

CREATE TABLE ruleset_files (
    hash            TEXT NOT NULL REFERENCES ruleset_versions (hash),
    path            TEXT NOT NULL,
    content         TEXT NOT NULL,
    PRIMARY KEY (hash, path)
);

CREATE TRIGGER ruleset_versions_immutable BEFORE UPDATE ON ruleset_versions
BEGIN
    SELECT RAISE(ABORT, 'a published ruleset version never changes');
END;
CREATE TRIGGER ruleset_versions_kept BEFORE DELETE ON ruleset_versions
BEGIN
    SELECT RAISE(ABORT, 'a published ruleset version is kept');
END;
CREATE TRIGGER ruleset_files_immutable BEFORE UPDATE ON ruleset_files
BEGIN
    SELECT RAISE(ABORT, 'a published ruleset version never changes');
END;
CREATE TRIGGER ruleset_files_kept BEFORE DELETE ON ruleset_files
BEGIN
    SELECT RAISE(ABORT, 'a published ruleset version is kept');
END;

-- A candidate need not be published to be shadowed (a folder can be);
-- the report names it by its hash.
CREATE TABLE shadow_reports (
    id              INTEGER PRIMARY KEY,
    candidate_hash  TEXT NOT NULL,
    casework_type   TEXT NOT NULL,
    filter          TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    created_us      INTEGER NOT NULL,
    cases           INTEGER NOT NULL,
    changed         INTEGER NOT NULL,
    report          TEXT NOT NULL
);
CREATE INDEX shadow_reports_candidate ON shadow_reports (candidate_hash, id);

CREATE TABLE ruleset_activations (
    id              INTEGER PRIMARY KEY,
    casework_type   TEXT NOT NULL,
    hash            TEXT NOT NULL REFERENCES ruleset_versions (hash),
    valid_from      TEXT NOT NULL,
    reason          TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('requested', 'approved', 'refused', 'withdrawn')),
    requested_by    TEXT NOT NULL,
    requested_by_user INTEGER REFERENCES users (id),
    requested_us    INTEGER NOT NULL,
    decided_by      TEXT,
    decided_by_user INTEGER REFERENCES users (id),
    decided_us      INTEGER,
    decision_note   TEXT,
    shadow_report   INTEGER REFERENCES shadow_reports (id),
    CHECK (state = 'requested' OR decided_us IS NOT NULL),
    -- Four eyes: who approves or refuses is not who asked (who asked may withdraw).
    CHECK (state = 'withdrawn' OR decided_by_user IS NULL OR requested_by_user IS NULL OR decided_by_user <> requested_by_user)
);
CREATE INDEX ruleset_activations_active ON ruleset_activations (casework_type, state, valid_from);
-- A decided request stays as it was decided.
CREATE TRIGGER ruleset_activations_decided_once BEFORE UPDATE ON ruleset_activations
WHEN OLD.state <> 'requested'
BEGIN
    SELECT RAISE(ABORT, 'an activation request is decided once');
END;
