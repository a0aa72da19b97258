-- Event kinds for the rule author's workbench: a ruleset version published,
-- an activation requested and decided, a shadow run, a case replayed.
ALTER TABLE audit_events DROP CONSTRAINT audit_events_kind_check;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_kind_check CHECK (kind IN ('fetched', 'evaluated', 'drafted',
    'approved', 'amended', 'returned', 'sent', 'invalid', 'failed', 'requeued', 'closed', 'assigned', 'commented',
    'kommunicering_sent', 'kommunicering_answered', 'kommunicering_expired', 'letter_sent',
    'case_read', 'login', 'login_failed', 'login_throttled', 'user_added', 'user_changed', 'role_requested',
    'role_granted', 'role_refused', 'role_removed', 'robot_changed', 'resubmitted',
    'ruleset_published', 'activation_requested', 'activation_approved', 'activation_refused', 'shadow_run',
    'case_replayed', 'erased'));
