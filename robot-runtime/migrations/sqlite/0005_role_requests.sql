-- Separation of duties: a deciding or administering role given to a local
-- account waits here for a second administrator (a different person from
-- the one who asked). Granted roles are in user_roles; this table keeps
-- who asked, who decided and when, beside the audit log's events.
CREATE TABLE role_requests (
    id                INTEGER PRIMARY KEY,
    user_id           INTEGER NOT NULL REFERENCES users (id),
    role              TEXT NOT NULL CHECK (role IN ('handlaggare', 'regelforfattare', 'administrator', 'revisor')),
    -- The audit actor who asked (`user:NAME`, `cli:NAME`).
    requested_by      TEXT NOT NULL,
    -- The asking official's user id, when an official asked.
    requested_by_user INTEGER REFERENCES users (id),
    requested_us      INTEGER NOT NULL,
    state             TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'granted', 'refused')),
    decided_by_user   INTEGER REFERENCES users (id),
    decided_us        INTEGER
);
CREATE INDEX role_requests_pending ON role_requests (state, id);
CREATE UNIQUE INDEX role_requests_one_pending ON role_requests (user_id, role) WHERE state = 'pending';
