-- Event kinds for kommunicering (förvaltningslagen 25 §) and letters that
-- are not decisions.
ALTER TABLE audit_events DROP CONSTRAINT audit_events_kind_check;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_kind_check CHECK (kind IN ('fetched', 'evaluated', 'drafted',
    'approved', 'amended', 'returned', 'sent', 'invalid', 'failed', 'requeued', 'closed', 'assigned', 'commented',
    'kommunicering_sent', 'kommunicering_answered', 'kommunicering_expired', 'letter_sent', 'erased'));
