import type { Pool } from 'pg';
import { createCodeStore } from '../db/codes';
import { createReferralStore, metAnotherConfirmation } from '../db/referrals';
import { JOURNEY_EVENTS, type StoredClick, type StoredProgress } from '../domain/journey';
import { toConversionRecord, type BadgeAward, type ConversionRecord, type ReferralEventInput, type ReferralSnapshot, type StoredReferral } from '../domain/referral';
import type { BadgeClient } from './badge-client';
import type { MembershipClient, Registration } from './membership-client';

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export interface ActivityDependencies {
  pool: Pool;
  clock: Clock;
  badgeClient: BadgeClient;
  /** Accounts for one mentor from one device or IP hash from which the next is held for review (3). */
  accountsPerDeviceOrIpLimit?: number;
  membershipClient?: MembershipClient;
  /** confirmRecruitment, for the reconciliation to back-fill what the webhook never delivered. */
  confirmRegistration?: (registration: Registration) => Promise<ConversionRecord>;
}

export interface ReconciliationTally {
  alreadyCounted: number;
  backfilled: number;
  unknownCode: number;
}

export interface PersistInput {
  snapshot: ReferralSnapshot;
  event: ReferralEventInput;
  click?: StoredClick;
}

export interface ConfirmOutcome {
  /** This referral as stored: confirmed, or superseded when the member was already attributed. */
  snapshot: ReferralSnapshot;
  /** The attribution that stands for the new member. */
  record: ConversionRecord;
  supersededWorkflowIds: string[];
  /** The badge awards claimed with the confirmation, when it was asked to claim them and stands. */
  awards?: BadgeAward[];
}

/** How often a confirmation meeting another one is tried again before its activity fails and retries. */
const CONFIRM_ATTEMPTS = 3;

/** Every activity is idempotent: rows are keyed by ids the workflow chose, writes are upserts. */
export function createActivities({ pool, clock, badgeClient, accountsPerDeviceOrIpLimit = 3, membershipClient, confirmRegistration }: ActivityDependencies) {
  const referrals = createReferralStore(pool);
  const codes = createCodeStore(pool);

  /**
   * Awards each milestone the mentor's confirmed count (read from Postgres) has reached, once,
   * and returns the undelivered awards this referral now holds the claim to deliver.
   */
  const claimBadgeAwards = (input: { mentorId: string; orgId: string; milestones: number[]; claimedBy: string }): Promise<BadgeAward[]> =>
    referrals.claimBadgeAwards({ ...input, awardedAt: clock.now() });

  /** The member keeps the attribution they already have; this referral is superseded by it. */
  async function supersedeBy(snapshot: ReferralSnapshot, event: ReferralEventInput, attribution: ReferralSnapshot): Promise<ConfirmOutcome> {
    const superseded: ReferralSnapshot = { ...snapshot, status: 'superseded', confirmedAt: null, endedAt: event.occurredAt };
    await referrals.persist(superseded, {
      type: 'superseded',
      idempotencyKey: JOURNEY_EVENTS.superseded(snapshot.referralId, attribution.referralId),
      occurredAt: event.occurredAt,
      detail: { byReferralId: attribution.referralId },
    });
    return { snapshot: superseded, record: toConversionRecord(attribution), supersededWorkflowIds: [] };
  }

  return {
    loadReferral(referralId: string): Promise<StoredReferral | null> {
      return referrals.load(referralId);
    },

    persistReferral({ snapshot, event, click }: PersistInput): Promise<StoredProgress> {
      return referrals.persist(snapshot, event, click);
    },

    /** Whether this account looks farmed: the mentor already has accounts from the same device or IP hash. */
    async assessAccountRisk(input: { referralId: string; orgId: string; mentorId: string; visitorHash: string | null }): Promise<{ flagReason: string | null }> {
      const accounts = (await referrals.accountsFromSameDevice(input)) + 1;
      return { flagReason: accounts >= accountsPerDeviceOrIpLimit ? 'many_accounts_from_one_device_or_ip' : null };
    },

    /**
     * Confirms one referral for a new member, keeping one mentor per member per organisation:
     * a member already attributed elsewhere keeps that attribution and this referral is superseded;
     * otherwise this one is confirmed and the member's other open referrals are superseded. Given the organisation's
     * badge milestones, a confirmation that stands also claims the mentor's awards, so the journey asks no more of
     * Postgres before it answers.
     */
    async confirmAttribution({ snapshot, event, badgeMilestones }: { snapshot: ReferralSnapshot; event: ReferralEventInput; badgeMilestones?: number[] }): Promise<ConfirmOutcome> {
      for (let attempt = 1; ; attempt += 1) {
        let blockedBy: unknown;
        let standing: ReferralSnapshot['status'] = 'superseded';
        try {
          const { status, supersededWorkflowIds } = await referrals.confirm(snapshot, event);
          if (status === 'confirmed') {
            const awards = badgeMilestones && (await claimBadgeAwards({ mentorId: snapshot.mentorId, orgId: snapshot.orgId, milestones: badgeMilestones, claimedBy: snapshot.referralId }));
            return { snapshot, record: toConversionRecord(snapshot), supersededWorkflowIds, awards };
          }
          standing = status;
        } catch (error) {
          if (!metAnotherConfirmation(error)) throw error;
          blockedBy = error;
        }
        // Another confirmation of this member got there first, or superseded this referral meanwhile.
        const attribution = await referrals.confirmedFor(snapshot.orgId, snapshot.newMemberId!, snapshot.referralId);
        if (attribution) return supersedeBy(snapshot, event, attribution);
        if (!blockedBy) {
          // Superseded by another member's confirmation on the same device, or reversed or rejected: it stays so.
          const ended: ReferralSnapshot = { ...snapshot, status: standing, confirmedAt: null };
          return { snapshot: ended, record: toConversionRecord(ended), supersededWorkflowIds: [] };
        }
        // The confirmation in the way was rolled back or reversed since: this one may stand after all.
        if (attempt >= CONFIRM_ATTEMPTS) throw blockedBy;
      }
    },

    claimBadgeAwards,

    /** Drops raw device data from clicks older than the retention period; the counts need none of it. */
    async purgeDeviceMetadata({ retentionDays }: { retentionDays: number }): Promise<{ purged: number }> {
      return { purged: await referrals.purgeDeviceMetadata(clock.now(), retentionDays) };
    },

    async fetchRecentRegistrations({ since }: { since: string }): Promise<Registration[]> {
      if (!membershipClient) return [];
      return membershipClient.recentRegistrations(since);
    },

    /** Confirms each registration not yet counted; a registration already decided on is left as it is. */
    async reconcileRegistrations(registrations: Registration[]): Promise<ReconciliationTally> {
      const tally: ReconciliationTally = { alreadyCounted: 0, backfilled: 0, unknownCode: 0 };
      for (const registration of registrations) {
        const code = await codes.byCode(registration.referralCode);
        if (!code) {
          tally.unknownCode += 1;
        } else if ((await referrals.decidedFor(code.org_id, registration.newMemberId)) || !confirmRegistration) {
          tally.alreadyCounted += 1;
        } else {
          await confirmRegistration(registration);
          tally.backfilled += 1;
        }
      }
      return tally;
    },

    /** Tells the badge service; the award id is the Idempotency-Key of every attempt. */
    async deliverBadgeAward(award: BadgeAward): Promise<void> {
      if (await referrals.badgeDelivered(award.id)) return;
      await referrals.countBadgeAttempt(award.id);
      const { mentorId, orgId, milestone, confirmedCount, awardedAt } = award;
      await badgeClient.award({ mentorId, orgId, milestone, confirmedCount, awardedAt }, award.id);
      await referrals.markBadgeDelivered(award.id, clock.now());
    },
  };
}

export type ReferralActivities = ReturnType<typeof createActivities>;
