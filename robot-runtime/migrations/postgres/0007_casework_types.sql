-- Casework types (rulesets/PACKAGES.md): a fee is fixed by decision, the
-- shared outcome `faststalld`.
ALTER TABLE cases DROP CONSTRAINT cases_outcome_check;
ALTER TABLE cases ADD CONSTRAINT cases_outcome_check CHECK (outcome IN ('bifall', 'delvis_bifall', 'avslag', 'faststalld', 'manuell'));
ALTER TABLE decisions DROP CONSTRAINT decisions_outcome_check;
ALTER TABLE decisions ADD CONSTRAINT decisions_outcome_check CHECK (outcome IN ('bifall', 'delvis_bifall', 'avslag', 'faststalld'));
-- The queue filters on a type's robots.
CREATE INDEX cases_robot ON cases (robot, id);
