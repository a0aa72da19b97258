-- The revisor's event list (`/granskning/handelser`): filters by case, by
-- who did it, by kind and by time, newest first, through indexes.
--
-- The actor becomes a column beside the leaf, as kind, case and time
-- already are; `verify` holds it to the leaf like the others. Existing rows
-- get it from their leaf: the actor is the third str8 after the fixed
-- 25-byte head (format, seq, event id), after the kind and the case
-- reference, which are ASCII and equal to their columns (get_byte counts
-- from 0, substring from 1). Only this migration writes to the append-only
-- table, with its trigger disabled for the one statement.
ALTER TABLE audit_events ADD COLUMN actor TEXT;

ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only;
UPDATE audit_events
   SET actor = convert_from(substring(
           leaf
           FROM 29 + octet_length(kind) + coalesce(octet_length(case_ref), 0)
           FOR get_byte(leaf, 27 + octet_length(kind) + coalesce(octet_length(case_ref), 0))
       ), 'UTF8');
ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only;

CREATE INDEX audit_events_by_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_by_kind ON audit_events (kind, seq);
CREATE INDEX audit_events_by_time ON audit_events (time_us, seq);
