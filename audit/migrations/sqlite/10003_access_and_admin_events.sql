-- Event kinds for the access log (reading a case), sign-ins, user and role
-- administration, robot changes and resubmitted applications. The CHECK
-- list is widened in place, as in 10002.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, '''letter_sent'', ''erased''', '''letter_sent'', ''case_read'', ''login'', ''login_failed'', ''login_throttled'', ''user_added'', ''user_changed'', ''role_requested'', ''role_granted'', ''role_refused'', ''role_removed'', ''robot_changed'', ''resubmitted'', ''erased''')
 WHERE type = 'table' AND name = 'audit_events';
PRAGMA writable_schema = OFF;
CREATE TABLE audit_schema_bump (x INTEGER);
DROP TABLE audit_schema_bump;
