import type { Pool, PoolClient } from 'pg';
import { FUNNEL_STAGES, type AttributionStatus, type FunnelStep } from '../domain/funnel';
import type { ReferralSnapshot, StoredReferral } from '../domain/referral';

/** Runs `work` in one transaction; `begin` may open it with more than a plain BEGIN. */
export async function withTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
  const client = await pool.connect();
  // A connection lost between two statements (Postgres restarting) is reported on the client, which a
  // checked-out client has no listener for: unheard, it would end the process. The next statement fails
  // instead, and the broken client is dropped on release.
  let lost: Error | undefined;
  const onConnectionLost = (error: Error) => {
    lost = error;
  };
  client.on('error', onConnectionLost);
  try {
    await client.query(begin);
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    if (!lost) await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.removeListener('error', onConnectionLost);
    client.release(lost);
  }
}

// A row read as such carries Dates; one read as JSON (to_jsonb) carries the same instants as strings.
const iso = (value: Date | string | null): string | null => (value ? new Date(value).toISOString() : null);

/** A referral's row, read as such or as JSON, as its snapshot. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function snapshotFromRow(row: any): ReferralSnapshot {
  return {
    referralId: row.id,
    workflowId: row.workflow_id,
    orgId: row.org_id,
    mentorId: row.mentor_id,
    referralCodeId: row.referral_code_id,
    code: row.code ?? '',
    visitorHash: row.visitor_hash,
    direct: row.is_direct,
    stage: row.stage,
    impliedSteps: row.implied_steps as FunnelStep[],
    status: row.status as AttributionStatus,
    stuck: row.stuck,
    newMemberId: row.new_member_id,
    clickedAt: iso(row.clicked_at)!,
    lastClickAt: iso(row.last_click_at)!,
    installedAt: iso(row.installed_at),
    accountCreatedAt: iso(row.account_created_at),
    firstLoginAt: iso(row.first_login_at),
    confirmedAt: iso(row.confirmed_at),
    endedAt: iso(row.ended_at),
    flagReason: row.flag_reason,
  };
}

const STAGE_ORDER = `ARRAY[${FUNNEL_STAGES.map((stage) => `'${stage}'`).join(', ')}]`;
/** The write comes from a run that knows less of the journey than the row already holds. */
const WRITE_IS_BEHIND = `array_position(${STAGE_ORDER}, EXCLUDED.stage) < array_position(${STAGE_ORDER}, r.stage)`;
/** Columns of the journey so far: a write from behind leaves them as they stand. */
const JOURNEY_COLUMNS = ['stage', 'implied_steps', 'new_member_id', 'installed_at', 'account_created_at', 'first_login_at', 'confirmed_at'];
const ATTRIBUTION_COLUMNS = ['status', 'stuck', 'clicked_at', 'last_click_at', 'ended_at', 'flag_reason'];

/**
 * The referral's row written from its workflow's snapshot ($1-$20, in `referralParams` order), returning the
 * stored status and stage. A row goes back neither in status nor in stage: a superseded, reversed or rejected
 * referral stays so, a confirmed one becomes only reversed, and the steps reached stay reached. Another
 * confirmation may have superseded it; or an attempt of its own workflow wrote more than that workflow's history
 * kept (its task lost after its activities ran, as when Temporal's store went down in the Postgres drill, with
 * a confirmation held for review that the history never accepted), and the run that replays the history writes
 * an earlier state again. Such a write changes nothing and returns nothing, unless it changes the status (a
 * supersession, an expiry): then the status is written and the journey so far is kept.
 */
export const UPSERT_REFERRAL_SQL = `INSERT INTO referrals AS r (id, org_id, referral_code_id, mentor_id, workflow_id, visitor_hash, is_direct,
       stage, implied_steps, status, stuck, new_member_id, clicked_at, last_click_at, installed_at,
       account_created_at, first_login_at, confirmed_at, ended_at, flag_reason)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
     ON CONFLICT (id) DO UPDATE SET
       ${JOURNEY_COLUMNS.map((column) => `${column} = CASE WHEN ${WRITE_IS_BEHIND} THEN r.${column} ELSE EXCLUDED.${column} END`).join(',\n       ')},
       ${ATTRIBUTION_COLUMNS.map((column) => `${column} = EXCLUDED.${column}`).join(', ')},
       updated_at = now()
     WHERE (r.status NOT IN ('superseded', 'reversed', 'rejected') OR EXCLUDED.status = r.status)
       AND (r.status <> 'confirmed' OR EXCLUDED.status IN ('confirmed', 'reversed'))
       AND (NOT ${WRITE_IS_BEHIND} OR EXCLUDED.status <> r.status)
     RETURNING status, stage`;

export const referralParams = (s: ReferralSnapshot): unknown[] => [
  s.referralId, s.orgId, s.referralCodeId, s.mentorId, s.workflowId, s.visitorHash, s.direct,
  s.stage, s.impliedSteps, s.status, s.stuck, s.newMemberId, s.clickedAt, s.lastClickAt, s.installedAt,
  s.accountCreatedAt, s.firstLoginAt, s.confirmedAt, s.endedAt, s.flagReason ?? null,
];

export async function loadStoredReferral(pool: Pool, referralId: string): Promise<StoredReferral | null> {
  const result = await pool.query(
    `SELECT r.*, c.code,
       (SELECT count(*) FROM click_events e WHERE e.referral_id = r.id AND NOT e.is_duplicate) AS counted_clicks,
       (SELECT count(*) FROM click_events e WHERE e.referral_id = r.id AND e.is_duplicate) AS duplicate_clicks
     FROM referrals r JOIN referral_codes c ON c.id = r.referral_code_id
     WHERE r.id = $1`,
    [referralId],
  );
  const row = result.rows[0];
  if (!row) return null;
  return { snapshot: snapshotFromRow(row), countedClicks: row.counted_clicks, duplicateClicks: row.duplicate_clicks };
}
