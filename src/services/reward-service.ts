import type { Pool } from 'pg';
import { createOrgStore } from '../db/orgs';
import { createRewardStore, type EntryPeriod, type RewardReads, type RewardRulesRow } from '../db/rewards';
import { authorise, type Caller } from '../domain/access';
import type { RewardEntry, RewardRules } from '../domain/rewards';
import { ConflictError, NotFoundError } from '../errors';
import { spreadsheetCsv } from './csv';

const MAX_ENTRIES = 1000;
const SUMMARY_MENTORS = 50;

/** The rules as the API shows them: the holding period in seconds. */
function rulesAnswer(orgId: string, row: RewardRulesRow | undefined) {
  if (!row) return { orgId, version: null, effectiveFrom: null, rules: null };
  const { holdingSeconds, ...rules } = row.rules;
  return { orgId, version: row.version, effectiveFrom: row.effective_from.toISOString(), rules: { ...rules, holdingPeriod: holdingSeconds } };
}

/** The statement's campaign and multiplier: the campaign rule that made an entry's amount, as the entry recorded it. */
function campaignColumns(entry: RewardEntry): [string | null, number | null] {
  const campaign = entry.detail.campaign as { campaign: string; multiplier: number } | undefined;
  return [campaign?.campaign ?? null, campaign?.multiplier ?? null];
}

/** A mentor's statement: one line per entry. */
function statementCsv(unit: string | null, entries: RewardEntry[]): string {
  return spreadsheetCsv([
    ['created_at', 'entry_id', 'referral_id', 'rule', 'amount', 'unit', 'status', 'awaiting', 'confirmed_at', 'reversed_at', 'corrects_entry_id', 'campaign', 'multiplier'],
    ...entries.map((entry) => [
      entry.createdAt,
      entry.id,
      entry.referralId,
      entry.rule,
      entry.amount,
      unit,
      entry.status,
      entry.awaiting,
      entry.confirmedAt,
      entry.reversedAt,
      entry.correctsEntryId,
      ...campaignColumns(entry),
    ]),
  ]);
}

/** The rewards programme: its rules, the mentors' ledgers, and coordinators' approval of high-value entries. */
export function createRewardService(deps: { pool: Pool }) {
  const rewards = createRewardStore(deps.pool);
  const orgs = createOrgStore(deps.pool);

  function ownOrg(caller: Caller, orgId: string) {
    if (orgId !== caller.orgId) throw new NotFoundError('organisation');
  }

  async function unitOf(reads: RewardReads, orgId: string): Promise<string | null> {
    return (await reads.currentRules(orgId))?.rules.unit ?? (await reads.unitsInLedger(orgId))[0] ?? null;
  }

  async function mentorLedger(caller: Caller, mentorId: string, period: EntryPeriod) {
    if (!(await orgs.isMember(mentorId, caller.orgId))) throw new NotFoundError('mentor');
    authorise(caller, 'readRewards', mentorId);
    return rewards.snapshot(caller.orgId, async (reads) => ({
      mentorId,
      unit: await unitOf(reads, caller.orgId),
      balance: await reads.mentorBalance(caller.orgId, mentorId),
      entries: await reads.mentorEntries(caller.orgId, mentorId, period, MAX_ENTRIES),
    }));
  }

  return {
    async rules(caller: Caller, orgId: string) {
      ownOrg(caller, orgId);
      authorise(caller, 'readRewardRules');
      return rulesAnswer(orgId, await rewards.currentRules(orgId));
    },

    /** New rules for confirmations from now on. The unit cannot change once the ledger holds entries in another. */
    async setRules(caller: Caller, orgId: string, rules: RewardRules) {
      ownOrg(caller, orgId);
      authorise(caller, 'manageOrganisation');
      const units = await rewards.unitsInLedger(orgId);
      if (units.some((unit) => unit !== rules.unit)) {
        throw new ConflictError(`the ledger already holds rewards in ${units.join(', ')}; the unit cannot change`);
      }
      return rulesAnswer(orgId, await rewards.setRules(orgId, rules, caller.userId));
    },

    mentorRewards: mentorLedger,

    async mentorStatement(caller: Caller, mentorId: string, period: EntryPeriod) {
      const ledger = await mentorLedger(caller, mentorId, period);
      return statementCsv(ledger.unit, [...ledger.entries].reverse());
    },

    async summary(caller: Caller, orgId: string) {
      ownOrg(caller, orgId);
      authorise(caller, 'readDashboard');
      const { unit, balance, mentors, awaiting } = await rewards.snapshot(orgId, async (reads) => ({
        unit: await unitOf(reads, orgId),
        balance: await reads.orgBalance(orgId),
        mentors: await reads.mentorBalances(orgId, SUMMARY_MENTORS),
        awaiting: await reads.awaitingApproval(orgId, MAX_ENTRIES),
      }));
      return {
        orgId,
        unit,
        balance,
        mentors,
        awaitingApproval: awaiting.map((row) => ({
          entryId: row.id,
          mentorId: row.mentor_id,
          mentorName: row.mentor_name,
          referralId: row.referral_id,
          rule: row.rule,
          detail: row.detail,
          amount: Number(row.amount),
          createdAt: row.created_at.toISOString(),
        })),
      };
    },

    /** A coordinator's approval or rejection of an entry waiting for one. */
    async review(caller: Caller, entryId: string, decision: 'approve' | 'reject') {
      authorise(caller, 'review');
      if (!(await rewards.entryExists(caller.orgId, entryId))) throw new NotFoundError('reward entry');
      if (!(await rewards.decide(caller.orgId, entryId, decision, caller.userId))) throw new ConflictError('the reward entry is not waiting for approval');
    },
  };
}

export type RewardService = ReturnType<typeof createRewardService>;
