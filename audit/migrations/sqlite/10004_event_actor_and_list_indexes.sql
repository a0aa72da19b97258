-- The revisor's event list (`/granskning/handelser`): filters by case, by
-- who did it, by kind and by time, newest first, through indexes.
--
-- The actor becomes a column beside the leaf, as kind, case and time
-- already are; `verify` holds it to the leaf like the others. Existing rows
-- get it from their leaf: the actor is the third str8 after the fixed
-- 25-byte head (format, seq, event id), after the kind and the case
-- reference, which are ASCII and equal to their columns. Only this
-- migration writes to the append-only table, with its UPDATE trigger
-- dropped and created again in the same transaction.
--
-- First the schema is read again: 10002 and 10003 edited the table's stored
-- SQL in place, and a connection that ran them still holds the old parse,
-- whose end-of-columns offset ADD COLUMN would use on the longer new text
-- (it wrote ", actor TEXT" into the middle of the kind CHECK list).
PRAGMA writable_schema = RESET;
ALTER TABLE audit_events ADD COLUMN actor TEXT;

DROP TRIGGER audit_events_no_update;
UPDATE audit_events
   SET actor = CAST(substr(
           leaf,
           29 + length(kind) + coalesce(length(case_ref), 0),
           (instr('0123456789ABCDEF', substr(hex(substr(leaf, 28 + length(kind) + coalesce(length(case_ref), 0), 1)), 1, 1)) - 1) * 16
             + instr('0123456789ABCDEF', substr(hex(substr(leaf, 28 + length(kind) + coalesce(length(case_ref), 0), 1)), 2, 1)) - 1
       ) AS TEXT);
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;

CREATE INDEX audit_events_by_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_by_kind ON audit_events (kind, seq);
CREATE INDEX audit_events_by_time ON audit_events (time_us, seq);
