import type { Pool } from 'pg';
import { createOrgStore, type OrgSettingsChange, type OrgSettingsRow } from '../db/orgs';
import { createReferralStore } from '../db/referrals';
import { authorise, type Action, type Caller } from '../domain/access';
import { AppError, NotFoundError } from '../errors';
import { erasedMemberHash } from './identifiers';
import type { ReferralService } from './referral-service';

function settingsView(orgId: string, row: OrgSettingsRow | undefined) {
  if (!row) throw new NotFoundError('organisation');
  return {
    orgId,
    name: row.name,
    attributionWindowSeconds: row.attribution_window_seconds,
    confirmationWindowSeconds: row.confirmation_window_seconds,
    dedupeWindowSeconds: row.dedupe_window_seconds,
    badgeMilestones: row.badge_milestones,
  };
}

/** Organisation admins' and coordinators' decisions: settings, coordinators' mentors, reviews and erasure. */
export function createAdminService(deps: { pool: Pool; referrals: ReferralService; hashSalt: string }) {
  const orgs = createOrgStore(deps.pool);
  const referrals = createReferralStore(deps.pool);

  /** A referral of the caller's organisation; another organisation's is as unknown as one never seen. */
  async function referralOf(caller: Caller, referralId: string) {
    const referral = await referrals.byId(referralId);
    if (!referral || referral.orgId !== caller.orgId) throw new NotFoundError('referral');
    return referral;
  }

  /** The caller's own organisation, for `action`; another organisation's is as unknown as one never seen. */
  function ownOrganisation(caller: Caller, orgId: string, action: Action) {
    if (orgId !== caller.orgId) throw new NotFoundError('organisation');
    authorise(caller, action);
  }

  return {
    async settings(caller: Caller, orgId: string) {
      ownOrganisation(caller, orgId, 'readSettings');
      return settingsView(orgId, await orgs.settings(orgId));
    },

    async updateSettings(caller: Caller, orgId: string, change: OrgSettingsChange) {
      ownOrganisation(caller, orgId, 'manageOrganisation');
      return settingsView(orgId, await orgs.updateSettings(orgId, change));
    },

    async mentors(caller: Caller, orgId: string) {
      ownOrganisation(caller, orgId, 'listMentors');
      return { items: await orgs.mentors(orgId) };
    },

    async coordinators(caller: Caller, orgId: string) {
      ownOrganisation(caller, orgId, 'manageOrganisation');
      return { items: await orgs.coordinators(orgId) };
    },

    async assignMentors(caller: Caller, coordinatorId: string, mentorIds: string[]) {
      authorise(caller, 'manageOrganisation');
      const outcome = await orgs.assignMentors(caller.orgId, coordinatorId, mentorIds);
      if (outcome === 'no_coordinator') throw new NotFoundError('coordinator');
      if (outcome.unknown.length > 0) throw new AppError(422, 'unknown_mentors', 'Some ids are not peer mentors of this organisation (a mentor is known once they have signed in or been named in an upload)', { mentorIds: outcome.unknown });
      return { coordinatorId, mentorIds };
    },

    async review(caller: Caller, referralId: string, decision: 'approve' | 'reject') {
      await referralOf(caller, referralId);
      authorise(caller, 'review');
      await deps.referrals.review(referralId, { decision, reviewerId: caller.userId });
    },

    /**
     * Erases a referral's personal data in Postgres, so nothing written there names the person again. Its runs, whose
     * histories hold the person's messages, are the workers' sweep's to delete: the answer never waits for Temporal.
     */
    async erase(caller: Caller, referralId: string) {
      const referral = await referralOf(caller, referralId);
      authorise(caller, 'erase');
      const memberHash = referral.newMemberId ? erasedMemberHash(deps.hashSalt, referral.orgId, referral.newMemberId) : null;
      await referrals.erase(referralId, caller.userId, memberHash);
    },
  };
}

export type AdminService = ReturnType<typeof createAdminService>;
