-- Separation of duties: a deciding or administering role given to a local
-- account waits here for a second administrator (a different person from
-- the one who asked). Granted roles are in user_roles; this table keeps
-- who asked, who decided and when, beside the audit log's events.
CREATE TABLE role_requests (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id           BIGINT NOT NULL REFERENCES users (id),
    role              TEXT NOT NULL CHECK (role IN ('handlaggare', 'regelforfattare', 'administrator', 'revisor')),
    requested_by      TEXT NOT NULL,
    requested_by_user BIGINT REFERENCES users (id),
    requested_us      BIGINT NOT NULL,
    state             TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'granted', 'refused')),
    decided_by_user   BIGINT REFERENCES users (id),
    decided_us        BIGINT
);
CREATE INDEX role_requests_pending ON role_requests (state, id);
CREATE UNIQUE INDEX role_requests_one_pending ON role_requests (user_id, role) WHERE state = 'pending';
