-- Up Migration

-- A referral its workflow has not written yet is read from the messages the intake took for it.
GRANT SELECT (id, kind, referral_id, referral_code_id, org_id, visitor_hash, message, received_at) ON intake TO referral_reader;

-- Down Migration

REVOKE SELECT ON intake FROM referral_reader;
