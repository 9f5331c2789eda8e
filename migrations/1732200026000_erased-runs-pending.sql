-- Up Migration

-- An erasure is done when Temporal holds no run of the referral either: a run's history holds the person's messages.
-- This column says since when runs may be left to delete: set by the erasure, and again by a dispatcher whose message
-- started a run of an erased referral; the workers' sweep deletes them whenever Temporal answers, and clears it once
-- Temporal lists none. Erasures made before it are looked at once.
ALTER TABLE erasures ADD COLUMN runs_pending_since timestamptz;
UPDATE erasures SET runs_pending_since = now();
CREATE INDEX erasures_runs_pending_idx ON erasures (runs_pending_since) WHERE runs_pending_since IS NOT NULL;

-- Down Migration

DROP INDEX erasures_runs_pending_idx;
ALTER TABLE erasures DROP COLUMN runs_pending_since;
