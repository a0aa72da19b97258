-- Casework types (rulesets/PACKAGES.md): a fee is fixed by decision, the
-- shared outcome `faststalld`.
ALTER TABLE cases DROP CONSTRAINT cases_outcome_check;
ALTER TABLE cases ADD CONSTRAINT cases_outcome_check CHECK (outcome IN ('bifall', 'delvis_bifall', 'avslag', 'faststalld', 'manuell'));
-- The queue filters on a type's robots.
CREATE INDEX cases_robot ON cases (robot, id);
