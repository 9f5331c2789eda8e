import type { Pool } from 'pg';
import { createIntakeStore } from '../db/intake';
import { createInvitationStore } from '../db/invitations';
import { createReferralStore } from '../db/referrals';
import type { Backlogs } from '../metrics';

/** What waits in Postgres for Temporal: the intake's messages, invitations not started, erasures not finished in Temporal. */
export function backlogsOf(pool: Pool): Backlogs {
  return { intake: createIntakeStore(pool).backlog, invitations: createInvitationStore(pool).backlog, erasures: createReferralStore(pool).erasureBacklog };
}
