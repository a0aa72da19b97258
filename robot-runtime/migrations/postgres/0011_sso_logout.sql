-- RP-initiated logout: the ID token of a single sign-on session, sealed
-- with a key derived from the session's own token (which the database does
-- not hold), to send to the provider's end_session_endpoint as
-- id_token_hint when the official logs out.
ALTER TABLE web_sessions ADD COLUMN oidc_logout TEXT;
