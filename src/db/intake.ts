import type { Pool, PoolClient } from 'pg';
import type { ClickInput, FunnelStepInput } from '../domain/referral';
import { CODE_COLUMNS, CODE_FROM, type CodeRow } from './codes';

/** Who a message is for: the referral, its workflow and its code. */
export interface IntakeAddress {
  taskQueue: string;
  referralId: string;
  workflowId: string;
  referralCodeId: string;
  orgId: string;
  visitorHash: string;
}

export type IntakeMessage = { kind: 'click'; message: ClickInput } | { kind: 'step'; message: FunnelStepInput };

/** A message taken and not yet delivered, with its code as the workflow's start needs it. */
export type IntakeRow = CodeRow & IntakeMessage & {
  intake_id: string;
  task_queue: string;
  referral_id: string;
  workflow_id: string;
  visitor_hash: string;
  attempts: number;
};

/** What taking a step found: the referral's code, and the member it is linked to in the request and in its row. */
export interface TakenStep extends CodeRow {
  linked_member: string | null;
  recorded_member: string | null;
  taken: boolean;
  /** The referral was erased: its token is refused. */
  erased: boolean;
}

export interface IntakeBacklog {
  undelivered: number;
  oldestAgeSeconds: number;
}

const INTAKE_COLUMNS = 'task_queue, kind, referral_id, workflow_id, referral_code_id, org_id, visitor_hash, message';
const ROW_COLUMNS = `i.id AS intake_id, i.task_queue, i.kind, i.message, i.referral_id, i.workflow_id, i.visitor_hash, i.attempts, ${CODE_COLUMNS}`;
const ROW_FROM = `FROM intake i JOIN referral_codes c ON c.id = i.referral_code_id JOIN organisations o ON o.id = c.org_id`;

/** The intake (DESIGN.md rule 0): messages written by requests and delivered to their workflows behind the answer. */
export function createIntakeStore(pool: Pool) {
  return {
    /** Clicks, in one statement however many, each received when it occurred (the burst rule counts a code's last minute by it). */
    async takeClicks(clicks: Array<{ address: IntakeAddress; message: ClickInput }>): Promise<void> {
      const column = <T>(value: (click: (typeof clicks)[number]) => T) => clicks.map(value);
      await pool.query(
        `INSERT INTO intake (${INTAKE_COLUMNS}, received_at)
         SELECT task_queue, 'click', referral_id, workflow_id, referral_code_id, org_id, visitor_hash, message, received_at
         FROM unnest($1::text[], $2::uuid[], $3::text[], $4::uuid[], $5::uuid[], $6::text[], $7::jsonb[], $8::timestamptz[])
           AS x(task_queue, referral_id, workflow_id, referral_code_id, org_id, visitor_hash, message, received_at)`,
        [
          column((click) => click.address.taskQueue),
          column((click) => click.address.referralId),
          column((click) => click.address.workflowId),
          column((click) => click.address.referralCodeId),
          column((click) => click.address.orgId),
          column((click) => click.address.visitorHash),
          column((click) => JSON.stringify(click.message)),
          column((click) => click.message.occurredAt),
        ],
      );
    },

    /**
     * A funnel step (none for an erased referral), in one statement with the app's word that the referral became the member's account (recorded
     * before the workflow hears of it, so a webhook that overtakes the step still finds it; one member per referral).
     * A step naming another member than the referral's is not taken. Answers nothing for an unknown code.
     */
    async takeStep(address: Omit<IntakeAddress, 'orgId'>, message: FunnelStepInput): Promise<TakenStep | undefined> {
      const result = await pool.query<TakenStep>(
        `WITH code AS (SELECT ${CODE_COLUMNS} ${CODE_FROM} WHERE c.id = $4),
         link AS (
           INSERT INTO referral_member_links (referral_id, org_id, referral_code_id, visitor_hash, new_member_id)
           SELECT $2::uuid, org_id, id, $5::text, $7::uuid FROM code
           WHERE $7::uuid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM erasures WHERE referral_id = $2)
           ON CONFLICT (referral_id) DO UPDATE SET referral_id = EXCLUDED.referral_id
           RETURNING new_member_id),
         recorded AS (SELECT new_member_id FROM referrals WHERE id = $2),
         erased AS (SELECT 1 FROM erasures WHERE referral_id = $2),
         taken AS (
           INSERT INTO intake (${INTAKE_COLUMNS})
           SELECT $1, 'step', $2, $3, id, org_id, $5, $6 FROM code
           WHERE NOT EXISTS (SELECT 1 FROM erased)
             AND ($7::uuid IS NULL
              OR ((SELECT new_member_id FROM link) = $7::uuid AND coalesce((SELECT new_member_id FROM recorded), $7::uuid) = $7::uuid))
           RETURNING id)
         SELECT code.*, (SELECT new_member_id FROM link) AS linked_member, (SELECT new_member_id FROM recorded) AS recorded_member,
           EXISTS (SELECT 1 FROM taken) AS taken, EXISTS (SELECT 1 FROM erased) AS erased
         FROM code`,
        [address.taskQueue, address.referralId, address.workflowId, address.referralCodeId, address.visitorHash, message, message.newMemberId ?? null],
      );
      return result.rows[0];
    },

    /**
     * Locks up to `limit` undelivered messages for this dispatcher, skipping those another holds. Only the oldest
     * undelivered message of each workflow is taken, so a referral's messages reach it in the order they were taken.
     */
    async claimBatch(client: PoolClient, taskQueue: string, limit: number): Promise<IntakeRow[]> {
      const result = await client.query<IntakeRow>(
        `SELECT ${ROW_COLUMNS} ${ROW_FROM}
         WHERE i.task_queue = $1 AND i.delivered_at IS NULL AND i.available_at <= now()
           AND NOT EXISTS (SELECT 1 FROM intake e WHERE e.workflow_id = i.workflow_id AND e.delivered_at IS NULL AND e.id < i.id)
         ORDER BY i.id LIMIT $2
         FOR UPDATE OF i SKIP LOCKED`,
        [taskQueue, limit],
      );
      return result.rows;
    },

    /**
     * One workflow's undelivered messages, oldest first, leased for `leaseMs`: no dispatcher takes them meanwhile, and no
     * connection is held while they are delivered. One a dispatcher is delivering right now is left to it: the workflow
     * ends the same whichever of them it hears first (rule 10).
     */
    async leaseForWorkflow(workflowId: string, leaseMs: number): Promise<IntakeRow[]> {
      const result = await pool.query<IntakeRow>(
        `WITH leased AS (
           UPDATE intake SET available_at = now() + make_interval(secs => $2::float8 / 1000)
           WHERE id IN (SELECT id FROM intake WHERE workflow_id = $1 AND delivered_at IS NULL FOR UPDATE SKIP LOCKED)
           RETURNING *)
         SELECT ${ROW_COLUMNS} FROM leased i JOIN referral_codes c ON c.id = i.referral_code_id JOIN organisations o ON o.id = c.org_id
         ORDER BY i.id`,
        [workflowId, leaseMs],
      );
      return result.rows;
    },

    async markDelivered(client: Pool | PoolClient, ids: string[]): Promise<void> {
      if (ids.length > 0) await client.query('UPDATE intake SET delivered_at = now() WHERE id = ANY ($1::bigint[])', [ids]);
    },

    /** Messages Temporal did not take: tried again after `delayMs`. */
    async defer(client: PoolClient, ids: string[], delayMs: number): Promise<void> {
      if (ids.length === 0) return;
      await client.query(
        `UPDATE intake SET attempts = attempts + 1, available_at = now() + make_interval(secs => $2::float8 / 1000) WHERE id = ANY ($1::bigint[])`,
        [ids, delayMs],
      );
    },

    async backlog(): Promise<IntakeBacklog> {
      const result = await pool.query<{ undelivered: number; oldest_age_seconds: number | null }>(
        `SELECT count(*)::int AS undelivered, extract(epoch FROM now() - min(received_at))::float8 AS oldest_age_seconds
         FROM intake WHERE delivered_at IS NULL`,
      );
      const row = result.rows[0];
      return { undelivered: row.undelivered, oldestAgeSeconds: Math.max(0, row.oldest_age_seconds ?? 0) };
    },

    /** Makes `client` hear the intake's NOTIFY, sent once per statement that took messages. */
    async listen(client: PoolClient): Promise<void> {
      await client.query('LISTEN intake');
    },

    /** Delivered messages are kept `keptMs` for the burst rule's minute, then dropped. */
    async pruneDelivered(keptMs: number): Promise<number> {
      const result = await pool.query(`DELETE FROM intake WHERE delivered_at < now() - make_interval(secs => $1::float8 / 1000)`, [keptMs]);
      return result.rowCount ?? 0;
    },
  };
}

export type IntakeStore = ReturnType<typeof createIntakeStore>;
