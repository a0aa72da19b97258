-- Officials, their roles and their sessions (web UI and API), and the
-- indexes the work queue needs. Times are microseconds since 1970-01-01 UTC.

CREATE TABLE users (
    id                  INTEGER PRIMARY KEY,
    username            TEXT NOT NULL UNIQUE,
    display_name        TEXT NOT NULL,
    -- argon2id PHC string; NULL for users who sign in only through SSO.
    password_hash       TEXT,
    -- The personnummer sealed with XChaCha20-Poly1305 under a key derived
    -- from the master key (never in the clear, never hashed without a key).
    personnummer_sealed BLOB,
    -- `issuer|subject` of the single sign-on identity, when linked.
    oidc_subject        TEXT UNIQUE,
    disabled            INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_us          INTEGER NOT NULL,
    updated_us          INTEGER NOT NULL
);

CREATE TABLE user_roles (
    user_id INTEGER NOT NULL REFERENCES users (id),
    role    TEXT NOT NULL CHECK (role IN ('handlaggare', 'regelforfattare', 'administrator', 'revisor')),
    PRIMARY KEY (user_id, role)
);

-- A session is found by the SHA-256 of its token; the token itself is
-- only ever in the official's cookie or the integration's header.
CREATE TABLE web_sessions (
    id_hash      TEXT PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id),
    kind         TEXT NOT NULL CHECK (kind IN ('browser', 'api')),
    method       TEXT NOT NULL CHECK (method IN ('password', 'oidc')),
    csrf_token   TEXT NOT NULL,
    created_us   INTEGER NOT NULL,
    last_seen_us INTEGER NOT NULL,
    expires_us   INTEGER NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_us);

-- A single sign-on login under way: state (hashed), nonce and PKCE verifier.
CREATE TABLE web_login_flows (
    state_hash    TEXT PRIMARY KEY,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    created_us    INTEGER NOT NULL
);

-- The work queue: filters by state, robot and outcome, sorted by age.
CREATE INDEX cases_queue ON cases (state, received_us, id);
CREATE INDEX cases_queue_robot ON cases (robot, state, received_us, id);
CREATE INDEX cases_queue_outcome ON cases (outcome, state, received_us, id);
CREATE INDEX cases_queue_amount ON cases (state, amount_ore, id);
