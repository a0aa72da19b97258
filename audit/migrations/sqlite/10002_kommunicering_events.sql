-- Event kinds for kommunicering (förvaltningslagen 25 §) and letters that
-- are not decisions. Widening a CHECK list changes nothing on disk, so the
-- stored schema of `audit_events` is edited in place (SQLite's documented
-- procedure for constraint changes); the table itself refuses UPDATE and
-- DELETE and is never rebuilt.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, '''commented'', ''erased''', '''commented'', ''kommunicering_sent'', ''kommunicering_answered'', ''kommunicering_expired'', ''letter_sent'', ''erased''')
 WHERE type = 'table' AND name = 'audit_events';
PRAGMA writable_schema = OFF;
-- A schema change bumps the schema cookie, so every open connection reads
-- the edited table definition again (an edit of sqlite_schema alone does not).
CREATE TABLE audit_schema_bump (x INTEGER);
DROP TABLE audit_schema_bump;
