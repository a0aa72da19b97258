-- Casework types (rulesets/PACKAGES.md): a fee is fixed by decision, the
-- shared outcome `faststalld`. Widening a CHECK list changes nothing on
-- disk, so the tables' stored schema is edited in place, as in 0004.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, '''avslag'', ''manuell'')', '''avslag'', ''faststalld'', ''manuell'')')
 WHERE type = 'table' AND name = 'cases';
UPDATE sqlite_schema
   SET sql = replace(sql, '''delvis_bifall'', ''avslag'')', '''delvis_bifall'', ''avslag'', ''faststalld'')')
 WHERE type = 'table' AND name = 'decisions';
PRAGMA writable_schema = OFF;
-- The DDL below bumps the schema cookie, so every open connection reads the
-- edited table definitions again. The queue filters on a type's robots.
CREATE INDEX cases_robot ON cases (robot, id);
