import type { Pool, PoolClient } from 'pg';
import type { RewardBalance, RewardEntry, RewardRules } from '../domain/rewards';
import { withOrgScope } from './scoped';
import { withTransaction } from './transaction';

export interface RewardRulesRow {
  version: number;
  rules: RewardRules;
  set_by: string;
  effective_from: Date;
}

interface RewardEntryRow {
  id: string;
  referral_id: string;
  rule: string;
  amount: string;
  status: RewardEntry['status'];
  approval: 'required' | 'approved' | 'rejected' | null;
  rules_version: number;
  detail: Record<string, unknown>;
  hold_until: Date;
  corrects_entry_id: string | null;
  created_at: Date;
  confirmed_at: Date | null;
  reversed_at: Date | null;
  reversal_reason: RewardEntry['reversalReason'];
}

export interface AwaitingApprovalRow {
  id: string;
  mentor_id: string;
  mentor_name: string | null;
  referral_id: string;
  rule: string;
  detail: Record<string, unknown>;
  amount: string;
  created_at: Date;
}

export interface MentorRewardsRow {
  mentor_id: string;
  mentor_name: string | null;
  pending: string;
  confirmed: string;
  reversed: string;
}

export interface EntryPeriod {
  from?: Date;
  to?: Date;
}

const BALANCE_COLUMNS = `coalesce(sum(amount) FILTER (WHERE status = 'pending'), 0) AS pending,
  coalesce(sum(amount) FILTER (WHERE status = 'confirmed'), 0) AS confirmed,
  coalesce(sum(amount) FILTER (WHERE status = 'reversed'), 0) AS reversed`;

type BalanceRow = Record<keyof RewardBalance, string>;
const balanceOf = (row: BalanceRow): RewardBalance => ({ pending: Number(row.pending), confirmed: Number(row.confirmed), reversed: Number(row.reversed) });

const entryOf = (row: RewardEntryRow): RewardEntry => ({
  id: row.id,
  referralId: row.referral_id,
  rule: row.rule,
  amount: Number(row.amount),
  status: row.status,
  awaiting: row.approval === 'required' ? 'approval' : null,
  rulesVersion: row.rules_version,
  detail: row.detail,
  holdUntil: row.hold_until.toISOString(),
  correctsEntryId: row.corrects_entry_id,
  createdAt: row.created_at.toISOString(),
  confirmedAt: row.confirmed_at?.toISOString() ?? null,
  reversedAt: row.reversed_at?.toISOString() ?? null,
  reversalReason: row.reversal_reason,
});

/** The ledger's reads, on the pool or on one transaction's connection. */
function rewardReads(db: Pool | PoolClient) {
  return {
    async currentRules(orgId: string): Promise<RewardRulesRow | undefined> {
      const result = await db.query<RewardRulesRow>(
        'SELECT version, rules, set_by, effective_from FROM reward_rules WHERE org_id = $1 ORDER BY version DESC LIMIT 1',
        [orgId],
      );
      return result.rows[0];
    },

    /** The units the organisation's ledger already holds. */
    async unitsInLedger(orgId: string): Promise<string[]> {
      const result = await db.query<{ unit: string }>('SELECT DISTINCT unit FROM reward_entries WHERE org_id = $1', [orgId]);
      return result.rows.map((row) => row.unit);
    },

    async mentorBalance(orgId: string, mentorId: string): Promise<RewardBalance> {
      const result = await db.query<BalanceRow>(`SELECT ${BALANCE_COLUMNS} FROM reward_entries WHERE org_id = $1 AND mentor_id = $2`, [orgId, mentorId]);
      return balanceOf(result.rows[0]);
    },

    /** The mentor's entries created in the period, newest first. */
    async mentorEntries(orgId: string, mentorId: string, period: EntryPeriod, limit: number): Promise<RewardEntry[]> {
      const result = await db.query<RewardEntryRow>(
        `SELECT * FROM reward_entries WHERE org_id = $1 AND mentor_id = $2
           AND ($3::timestamptz IS NULL OR created_at >= $3) AND ($4::timestamptz IS NULL OR created_at < $4)
         ORDER BY seq DESC LIMIT $5`,
        [orgId, mentorId, period.from ?? null, period.to ?? null, limit],
      );
      return result.rows.map(entryOf);
    },

    async orgBalance(orgId: string): Promise<RewardBalance> {
      const result = await db.query<BalanceRow>(`SELECT ${BALANCE_COLUMNS} FROM reward_entries WHERE org_id = $1`, [orgId]);
      return balanceOf(result.rows[0]);
    },

    /** Each mentor's balance, the most confirmed first. */
    async mentorBalances(orgId: string, limit: number): Promise<(RewardBalance & { mentorId: string; name: string | null })[]> {
      const result = await db.query<MentorRewardsRow>(
        `SELECT e.mentor_id, u.display_name AS mentor_name, ${BALANCE_COLUMNS}
         FROM reward_entries e JOIN users u ON u.org_id = e.org_id AND u.id = e.mentor_id
         WHERE e.org_id = $1 GROUP BY e.mentor_id, u.display_name ORDER BY confirmed DESC, pending DESC, e.mentor_id LIMIT $2`,
        [orgId, limit],
      );
      return result.rows.map((row) => ({ mentorId: row.mentor_id, name: row.mentor_name, ...balanceOf(row) }));
    },

    async awaitingApproval(orgId: string, limit: number): Promise<AwaitingApprovalRow[]> {
      const result = await db.query<AwaitingApprovalRow>(
        `SELECT e.id, e.mentor_id, u.display_name AS mentor_name, e.referral_id, e.rule, e.detail, e.amount, e.created_at
         FROM reward_entries e JOIN users u ON u.org_id = e.org_id AND u.id = e.mentor_id
         WHERE e.org_id = $1 AND e.approval = 'required' ORDER BY e.created_at LIMIT $2`,
        [orgId, limit],
      );
      return result.rows;
    },
  };
}

export type RewardReads = ReturnType<typeof rewardReads>;

/** The rewards ledger. Entries are written by triggers on `referrals` (the migration); this store reads and settles them. */
export function createRewardStore(pool: Pool) {
  return {
    ...rewardReads(pool),

    /** Reads that answer together, in the organisation's read scope and so from one snapshot: a settler's commit between them would make them disagree. */
    snapshot<T>(orgId: string, work: (reads: RewardReads) => Promise<T>): Promise<T> {
      return withOrgScope(pool, orgId, (client) => work(rewardReads(client)));
    },

    /** A new version of the rules, in force for confirmations from now on; the invite page's welcome follows it. */
    setRules(orgId: string, rules: RewardRules, setBy: string): Promise<RewardRulesRow> {
      return withTransaction(pool, async (client: PoolClient) => {
        // One writer at a time per organisation, so versions never collide.
        await client.query('SELECT 1 FROM organisations WHERE id = $1 FOR UPDATE', [orgId]);
        const result = await client.query<RewardRulesRow>(
          `INSERT INTO reward_rules (org_id, version, rules, set_by)
           SELECT $1, coalesce(max(version), 0) + 1, $2, $3 FROM reward_rules WHERE org_id = $1
           RETURNING version, rules, set_by, effective_from`,
          [orgId, rules, setBy],
        );
        await client.query('UPDATE organisations SET welcome_reward = $2 WHERE id = $1', [orgId, rules.welcomeReward?.description ?? null]);
        return result.rows[0];
      });
    },

    /**
     * A coordinator's decision on an entry waiting for approval: approved, it is confirmed once its hold has passed;
     * rejected, it is reversed. False when the entry is not waiting (decided already, or not of the organisation).
     */
    async decide(orgId: string, entryId: string, decision: 'approve' | 'reject', decidedBy: string): Promise<boolean> {
      const result = await pool.query(
        `UPDATE reward_entries SET decided_by = $4,
           approval = CASE WHEN $3 = 'approve' THEN 'approved' ELSE 'rejected' END,
           status = CASE WHEN $3 = 'approve' THEN status ELSE 'reversed' END,
           reversed_at = CASE WHEN $3 = 'approve' THEN NULL ELSE now() END,
           reversal_reason = CASE WHEN $3 = 'approve' THEN NULL ELSE 'rejected' END
         WHERE org_id = $1 AND id = $2 AND approval = 'required' AND status = 'pending'`,
        [orgId, entryId, decision, decidedBy],
      );
      return (result.rowCount ?? 0) > 0;
    },

    async entryExists(orgId: string, entryId: string): Promise<boolean> {
      return ((await pool.query('SELECT 1 FROM reward_entries WHERE org_id = $1 AND id = $2', [orgId, entryId])).rowCount ?? 0) > 0;
    },

    /** Confirms up to `limit` entries whose hold has passed (and that need no approval); several settlers share them. */
    async settleDue(now: Date, limit: number): Promise<number> {
      const result = await pool.query(
        `UPDATE reward_entries SET status = 'confirmed', confirmed_at = $1
         WHERE id IN (SELECT id FROM reward_entries WHERE status = 'pending' AND hold_until <= $1 AND approval IS DISTINCT FROM 'required'
                      ORDER BY hold_until LIMIT $2 FOR UPDATE SKIP LOCKED)`,
        [now, limit],
      );
      return result.rowCount ?? 0;
    },
  };
}

export type RewardStore = ReturnType<typeof createRewardStore>;
