-- Nothing lost at the inbox (issue 10).
--
-- A resubmitted application: the same (source, external_id) with different
-- content becomes a new case, a new version linked to the one before. The
-- first version keeps the external id as the key; later versions are stored
-- under `EXTERNAL_ID~vN` (`~` cannot occur in an external id, so the key
-- stays unique, the same on both engines). The content's SHA-256 tells a
-- harmless re-delivery (same bytes) from a changed application.
ALTER TABLE cases ADD COLUMN version BIGINT NOT NULL DEFAULT 1 CHECK (version >= 1);
ALTER TABLE cases ADD COLUMN previous_case_id BIGINT REFERENCES cases (id);
ALTER TABLE cases ADD COLUMN content_sha256 TEXT;

-- A second application for the same adult and period: which of a case's
-- subjects are adults of the household (NULL: stored before this
-- migration, treated as possibly an adult).
ALTER TABLE case_subjects ADD COLUMN adult INTEGER CHECK (adult IN (0, 1));
CREATE INDEX cases_period ON cases (period, id);
