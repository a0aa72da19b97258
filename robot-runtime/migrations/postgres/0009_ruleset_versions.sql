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
    tests_passed    BIGINT NOT NULL,
    tests_failed    BIGINT NOT NULL,
    published_by    TEXT NOT NULL,
    published_us    BIGINT NOT NULL
);
CREATE INDEX ruleset_versions_type ON ruleset_versions (casework_type, published_us);

CREATE TABLE ruleset_files (
    hash            TEXT NOT NULL REFERENCES ruleset_versions (hash),
    path            TEXT NOT NULL,
    content         TEXT NOT NULL,
    PRIMARY KEY (hash, path)
);

CREATE FUNCTION ruleset_version_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a published ruleset version never changes';
END;
$$;
CREATE TRIGGER ruleset_versions_immutable BEFORE UPDATE OR DELETE ON ruleset_versions
    FOR EACH ROW EXECUTE FUNCTION ruleset_version_immutable();
CREATE TRIGGER ruleset_files_immutable BEFORE UPDATE OR DELETE ON ruleset_files
    FOR EACH ROW EXECUTE FUNCTION ruleset_version_immutable();

-- A candidate need not be published to be shadowed (a folder can be);
-- the report names it by its hash.
CREATE TABLE shadow_reports (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    candidate_hash  TEXT NOT NULL,
    casework_type   TEXT NOT NULL,
    filter          TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    created_us      BIGINT NOT NULL,
    cases           BIGINT NOT NULL,
    changed         BIGINT NOT NULL,
    report          TEXT NOT NULL
);
CREATE INDEX shadow_reports_candidate ON shadow_reports (candidate_hash, id);

CREATE TABLE ruleset_activations (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    casework_type   TEXT NOT NULL,
    hash            TEXT NOT NULL REFERENCES ruleset_versions (hash),
    valid_from      TEXT NOT NULL,
    reason          TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('requested', 'approved', 'refused', 'withdrawn')),
    requested_by    TEXT NOT NULL,
    requested_by_user BIGINT REFERENCES users (id),
    requested_us    BIGINT NOT NULL,
    decided_by      TEXT,
    decided_by_user BIGINT REFERENCES users (id),
    decided_us      BIGINT,
    decision_note   TEXT,
    shadow_report   BIGINT REFERENCES shadow_reports (id),
    CHECK (state = 'requested' OR decided_us IS NOT NULL),
    -- Four eyes: who approves or refuses is not who asked (who asked may withdraw).
    CHECK (state = 'withdrawn' OR decided_by_user IS NULL OR requested_by_user IS NULL OR decided_by_user <> requested_by_user)
);
CREATE INDEX ruleset_activations_active ON ruleset_activations (casework_type, state, valid_from);

CREATE FUNCTION ruleset_activation_decided_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.state <> 'requested' THEN
        RAISE EXCEPTION 'an activation request is decided once';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER ruleset_activations_decided_once BEFORE UPDATE ON ruleset_activations
    FOR EACH ROW EXECUTE FUNCTION ruleset_activation_decided_once();
