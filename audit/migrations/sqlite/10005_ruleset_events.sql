-- Event kinds for the rule author's workbench: a ruleset version published,
-- an activation requested and decided, a shadow run, a case replayed. The
-- CHECK list is widened in place, as in 10002 and 10003, after reading the
-- schema again (see 10004).
PRAGMA writable_schema = RESET;
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, '''resubmitted'', ''erased''', '''resubmitted'', ''ruleset_published'', ''activation_requested'', ''activation_approved'', ''activation_refused'', ''shadow_run'', ''case_replayed'', ''erased''')
 WHERE type = 'table' AND name = 'audit_events';
PRAGMA writable_schema = OFF;
CREATE TABLE audit_schema_bump (x INTEGER);
DROP TABLE audit_schema_bump;
