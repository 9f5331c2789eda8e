import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import { createOrgStore, type OrgSettingsChange } from '../db/orgs';
import { createReferralStore } from '../db/referrals';
import { authorise, type Caller } from '../domain/access';
import { AppError, NotFoundError } from '../errors';
import type { ReferralService } from './referral-service';

/** Organisation admins' and coordinators' decisions: settings, coordinators' mentors, reviews and erasure. */
export function createAdminService(deps: { pool: Pool; temporal: Client; referrals: ReferralService }) {
  const orgs = createOrgStore(deps.pool);
  const referrals = createReferralStore(deps.pool);

  /** A referral of the caller's organisation; another organisation's is as unknown as one never seen. */
  async function referralOf(caller: Caller, referralId: string) {
    const referral = await referrals.byId(referralId);
    if (!referral || referral.orgId !== caller.orgId) throw new NotFoundError('referral');
    return referral;
  }

  return {
    async updateSettings(caller: Caller, orgId: string, change: OrgSettingsChange) {
      if (orgId !== caller.orgId) throw new NotFoundError('organisation');
      authorise(caller, 'manageOrganisation');
      const row = await orgs.updateSettings(orgId, change);
      if (!row) throw new NotFoundError('organisation');
      return {
        orgId,
        name: row.name,
        attributionWindowSeconds: row.attribution_window_seconds,
        confirmationWindowSeconds: row.confirmation_window_seconds,
        dedupeWindowSeconds: row.dedupe_window_seconds,
        badgeMilestones: row.badge_milestones,
      };
    },

    async assignMentors(caller: Caller, coordinatorId: string, mentorIds: string[]) {
      authorise(caller, 'manageOrganisation');
      const outcome = await orgs.assignMentors(caller.orgId, coordinatorId, mentorIds);
      if (outcome === 'no_coordinator') throw new NotFoundError('coordinator');
      if (outcome.unknown.length > 0) throw new AppError(422, 'unknown_mentors', 'Some mentors are not known in this organisation', { mentorIds: outcome.unknown });
      return { coordinatorId, mentorIds };
    },

    async review(caller: Caller, referralId: string, decision: 'approve' | 'reject') {
      await referralOf(caller, referralId);
      authorise(caller, 'review');
      await deps.referrals.review(referralId, { decision, reviewerId: caller.userId });
    },

    async erase(caller: Caller, referralId: string) {
      const referral = await referralOf(caller, referralId);
      authorise(caller, 'erase');
      // The journey stops first, so it cannot write the erased data back.
      await deps.temporal.workflow
        .getHandle(referral.workflowId)
        .terminate('referral record erased by an organisation admin')
        .catch(() => undefined);
      await referrals.erase(referralId, caller.userId);
    },
  };
}

export type AdminService = ReturnType<typeof createAdminService>;
