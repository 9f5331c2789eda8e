import type { Pool, PoolClient } from 'pg';
import type { ClickInput, FunnelStepInput, TakenMessage } from '../domain/referral';
import { createBatcher } from '../services/batcher';
import { CODE_COLUMNS, CODE_FROM, COUNT_SQL, LIMIT_WINDOW_MS, RECENT_CLICKS_SQL, type ClickCodeRow, type ClickLimitCount, type ClickLimits, type CodeRow } from './codes';

/** Who a message is for: the referral, its workflow and its code. */
export interface IntakeAddress {
  taskQueue: string;
  referralId: string;
  workflowId: string;
  referralCodeId: string;
  orgId: string;
  visitorHash: string;
}

/** A message taken and not yet delivered, with its code as the workflow's start needs it. */
export type IntakeRow = CodeRow & TakenMessage & {
  intake_id: string;
  task_queue: string;
  referral_id: string;
  workflow_id: string;
  visitor_hash: string;
  attempts: number;
  /** Nothing of its referral came before it, in the intake or written: a workflow it starts has nothing to load. */
  fresh: boolean;
};

/** What taking a step found: the referral's code, and the member it is linked to in the request and in its row. */
export interface TakenStep extends CodeRow {
  linked_member: string | null;
  recorded_member: string | null;
  taken: boolean;
  /** The referral was erased: its token is refused. */
  erased: boolean;
}

/** A click as its request brings it, before its code is known. */
export interface ClickToTake {
  code: string;
  visitorHash: string;
  network: string;
  at: Date;
  /** The click without the checks' verdicts, which the statement adds. */
  message: Omit<ClickInput, 'selfReferral' | 'burst'>;
  /** From the invite page: the share channel defaults to the code's own. */
  viaLanding: boolean;
  /** False for a click whose checks need more than the statement reads (a signed-in member's, an invitation's): it is looked up only. */
  takeHere: boolean;
  /** The clicks in a minute that make a burst on this code, when the caller knows them: a busy minute's burst is then decided here too. */
  burstNeeded?: number;
}

/** What the statement found for a click, and whether it took it into the intake. */
export interface ClickOutcome {
  limit: ClickLimitCount;
  code?: ClickCodeRow;
  /** The click's message as it was, or would have been, taken; `burst` is null when it needed `burstNeeded` and had none. */
  message: ClickInput & { burst: boolean | null };
  taken: boolean;
  /** The visitor's referral on this code was erased: the click is not taken for it (a new referral takes it). */
  erased: boolean;
}

/** A referral's click as the intake holds it, with its code. */
export interface TakenClick extends CodeRow {
  visitor_hash: string;
  linked_member: string | null;
}

/** A click as its statement answers it: its code, its message, and where it stands against its limits. */
type ClickStatementRow = ClickCodeRow & {
  taken_message: ClickOutcome['message'];
  taken: boolean;
  erased: boolean;
  over_limit: boolean;
  /** When the minute of the limit that decided ends, in ms (bigint, as text). */
  limit_expire: string;
};

export interface IntakeBacklog {
  undelivered: number;
  oldestAgeSeconds: number;
}

const INTAKE_COLUMNS = 'task_queue, kind, referral_id, workflow_id, referral_code_id, org_id, visitor_hash, message';
// Delivered messages stay until their referral is written, so an earlier one is in the intake or the referral's row is.
const FRESH = `NOT EXISTS (SELECT 1 FROM intake e WHERE e.referral_id = i.referral_id AND e.id < i.id)
  AND NOT EXISTS (SELECT 1 FROM referrals r WHERE r.id = i.referral_id) AS fresh`;
const ROW_COLUMNS = `i.id AS intake_id, i.task_queue, i.kind, i.message, i.referral_id, i.workflow_id, i.visitor_hash, i.attempts, ${FRESH}, ${CODE_COLUMNS}`;
const WITH_CODES = 'JOIN referral_codes c ON c.id = i.referral_code_id JOIN organisations o ON o.id = c.org_id';
/** The rows a lease's UPDATE returned (`leased`), with their codes. */
const LEASED_FROM = `FROM leased i ${WITH_CODES}`;

/** The intake (DESIGN.md rule 0): messages written by requests and delivered to their workflows behind the answer. */
export function createIntakeStore(pool: Pool) {
  /**
   * Wakes the dispatchers once a statement that took messages has committed, in a statement of its own: a NOTIFY in
   * the taking transaction holds Postgres's one notification lock through that commit's flush to disk, so every
   * writer to the intake would commit one at a time. A notification alone writes nothing and waits for no disk. One
   * at a time, and one more after it for what was taken meanwhile; the answer does not wait for it, and a wake lost
   * (Postgres gone for a moment) is left to the dispatchers' poll.
   */
  const wakes = createBatcher({
    run: async (taken: null[]) => {
      await pool.query({ name: 'intake.wake', text: "SELECT pg_notify('intake', '')" });
      return taken;
    },
    inFlight: 1,
    maxBatch: Number.MAX_SAFE_INTEGER,
  });
  const wakeDispatchers = () => void wakes.submit(null).catch(() => undefined);

  return {
    /**
     * Clicks, however many, in one statement: counted against their limits in order (the code's counter only when the
     * network's allows the click), each one's code looked up with what the checks need, and the click taken into the
     * intake when it may be (a live code, within the limits) and the statement could decide its checks: the mentor's
     * known device, and a burst, which counts the code's last minute up to what makes one (DESIGN.md rule 3).
     * One round trip a batch: the hot counter rows stay locked until the commit is on disk, so batches on one code or
     * from one network commit one after another, each taking every click that came meanwhile.
     * A click received when it occurred, as the burst rule counts it.
     */
    async takeClicks(taskQueue: string, clicks: ClickToTake[], burstClicksPerMinute: number, limits: ClickLimits): Promise<ClickOutcome[]> {
      const at = Date.now();
      const column = <T>(value: (click: ClickToTake) => T) => clicks.map(value);
      const result = await pool.query<ClickStatementRow>({
        name: 'intake.take-clicks',
        text: `WITH click AS (
           SELECT x.* FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::jsonb[], $5::boolean[], $6::boolean[], $7::int[], $8::text[])
             WITH ORDINALITY AS x(code, visitor_hash, at, message, via_landing, take_here, burst_needed, network_key, n)),
         network_counted AS (SELECT network_key AS key, count(*) AS k FROM click GROUP BY network_key),
         network AS (${COUNT_SQL('network_counted', '$11', '$12')}),
         by_network AS (
           SELECT x.n, 'code:' || left(x.code, 64) AS code_key, nw.points - nc.k + row_number() OVER (PARTITION BY x.network_key ORDER BY x.n) AS network_points, nw.expire AS network_expire
           FROM click x JOIN network nw ON nw.key = x.network_key JOIN network_counted nc ON nc.key = x.network_key),
         code_counted AS (SELECT code_key AS key, count(*) AS k FROM by_network WHERE network_points <= $13 GROUP BY code_key),
         per_code AS (${COUNT_SQL('code_counted', '$11', '$12')}),
         by_code AS (
           SELECT b.n, pc.points - cc.k + row_number() OVER (PARTITION BY b.code_key ORDER BY b.n) AS code_points, pc.expire AS code_expire
           FROM by_network b JOIN per_code pc ON pc.key = b.code_key JOIN code_counted cc ON cc.key = b.code_key
           WHERE b.network_points <= $13),
         limited AS (
           SELECT bn.n, bn.network_points > $13 OR coalesce(bc.code_points, 0) > $14 AS over_limit,
             CASE WHEN bn.network_points > $13 THEN bn.network_expire ELSE coalesce(bc.code_expire, bn.network_expire) END AS limit_expire
           FROM by_network bn LEFT JOIN by_code bc ON bc.n = bn.n),
         looked AS (
           SELECT b.n, b.at, b.visitor_hash, b.message, b.via_landing, b.take_here, b.burst_needed, lim.over_limit, lim.limit_expire, found.*
           FROM click b
           JOIN limited lim ON lim.n = b.n
           LEFT JOIN LATERAL (
             SELECT ${CODE_COLUMNS}, c.default_channel, u.display_name AS mentor_name, o.name AS org_name, o.welcome_reward,
               EXISTS (SELECT 1 FROM mentor_devices d WHERE d.mentor_id = c.mentor_id AND d.visitor_hash = b.visitor_hash) AS known_mentor_device,
               (${RECENT_CLICKS_SQL('c.id', 'b.at', 'coalesce(b.burst_needed, $9)')}) AS clicks_last_minute
             ${CODE_FROM} JOIN users u ON u.org_id = c.org_id AND u.id = c.mentor_id
             WHERE c.code = b.code AND NOT lim.over_limit) found ON true),
         decided AS (
           SELECT l.*, CASE WHEN l.clicks_last_minute < $9 THEN false WHEN l.burst_needed IS NULL THEN NULL ELSE l.clicks_last_minute >= l.burst_needed END AS burst
           FROM looked l),
         composed AS (
           SELECT d.*, d.message || jsonb_build_object(
               'metadata', CASE WHEN d.via_landing
                 THEN jsonb_build_object('shareChannel', coalesce(d.default_channel, 'link')) || (d.message -> 'metadata') || '{"via": "landing"}'
                 ELSE d.message -> 'metadata' END,
               'selfReferral', d.known_mentor_device,
               'burst', d.burst) AS taken_message,
             'referral-' || d.id || '-' || d.visitor_hash AS workflow_id
           FROM decided d),
         with_referral AS (SELECT m.*, referral_uuid(m.workflow_id) AS referral_id FROM composed m),
         addressed AS (SELECT r.*, EXISTS (SELECT 1 FROM erasures e WHERE e.referral_id = r.referral_id) AS erased FROM with_referral r),
         taken AS (
           INSERT INTO intake (${INTAKE_COLUMNS}, received_at)
           SELECT $10, 'click', m.referral_id, m.workflow_id, m.id, m.org_id, m.visitor_hash, m.taken_message, m.at
           FROM addressed m
           WHERE m.id IS NOT NULL AND m.take_here AND m.burst IS NOT NULL AND NOT m.erased AND m.revoked_at IS NULL AND (m.expires_at IS NULL OR m.expires_at > m.at)
           ORDER BY m.n
           RETURNING message ->> 'clickId' AS click_id)
         SELECT m.*, EXISTS (SELECT 1 FROM taken t WHERE t.click_id = m.message ->> 'clickId') AS taken
         FROM addressed m ORDER BY m.n`,
        values: [
          column((click) => click.code),
          column((click) => click.visitorHash),
          column((click) => click.at),
          column((click) => JSON.stringify(click.message)),
          column((click) => click.viaLanding),
          column((click) => click.takeHere),
          column((click) => click.burstNeeded ?? null),
          column((click) => `ip:${click.network}`),
          burstClicksPerMinute,
          taskQueue,
          at + LIMIT_WINDOW_MS,
          at,
          limits.perNetwork,
          limits.perCode,
        ],
      });
      if (result.rows.some((row) => row.taken)) wakeDispatchers();
      return result.rows.map((row) => ({
        limit: { over: row.over_limit, resetsInMs: Number(row.limit_expire) - at },
        code: row.id ? row : undefined,
        message: row.taken_message,
        taken: row.taken,
        erased: row.erased,
      }));
    },

    /** Clicks the service checked itself, in one statement however many, each received when it occurred. */
    async takeCheckedClicks(clicks: Array<{ address: IntakeAddress; message: ClickInput }>): Promise<void> {
      const column = <T>(value: (click: (typeof clicks)[number]) => T) => clicks.map(value);
      await pool.query({
        name: 'intake.take-checked-clicks',
        text: `INSERT INTO intake (${INTAKE_COLUMNS}, received_at)
         SELECT task_queue, 'click', referral_id, workflow_id, referral_code_id, org_id, visitor_hash, message, received_at
         FROM unnest($1::text[], $2::uuid[], $3::text[], $4::uuid[], $5::uuid[], $6::text[], $7::jsonb[], $8::timestamptz[])
           AS x(task_queue, referral_id, workflow_id, referral_code_id, org_id, visitor_hash, message, received_at)`,
        values: [
          column((click) => click.address.taskQueue),
          column((click) => click.address.referralId),
          column((click) => click.address.workflowId),
          column((click) => click.address.referralCodeId),
          column((click) => click.address.orgId),
          column((click) => click.address.visitorHash),
          column((click) => JSON.stringify(click.message)),
          column((click) => click.message.occurredAt),
        ],
      });
      wakeDispatchers();
    },

    /**
     * A funnel step (none for an erased referral), in one statement with the app's word that the referral became the member's account (recorded
     * before the workflow hears of it, so a webhook that overtakes the step still finds it; one member per referral).
     * A step naming another member than the referral's is not taken. Answers nothing for an unknown code.
     */
    async takeStep(address: Omit<IntakeAddress, 'orgId'>, message: FunnelStepInput): Promise<TakenStep | undefined> {
      const result = await pool.query<TakenStep>({
        name: 'intake.take-step',
        text: `WITH code AS (SELECT ${CODE_COLUMNS} ${CODE_FROM} WHERE c.id = $4),
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
        values: [address.taskQueue, address.referralId, address.workflowId, address.referralCodeId, address.visitorHash, message, message.newMemberId ?? null],
      });
      if (result.rows[0]?.taken) wakeDispatchers();
      return result.rows[0];
    },

    /**
     * A referral known only by its click in the intake (its workflow has not written it yet): its code and visitor, and
     * the member the app linked to it, if any. Nothing for an erased referral.
     */
    async takenClick(referralId: string): Promise<TakenClick | undefined> {
      const result = await pool.query<TakenClick>({
        name: 'intake.taken-click',
        text: `SELECT ${CODE_COLUMNS}, i.visitor_hash, l.new_member_id AS linked_member
         ${CODE_FROM} JOIN intake i ON i.referral_code_id = c.id LEFT JOIN referral_member_links l ON l.referral_id = i.referral_id
         WHERE i.referral_id = $1 AND i.kind = 'click' AND NOT EXISTS (SELECT 1 FROM erasures e WHERE e.referral_id = i.referral_id)
         LIMIT 1`,
        values: [referralId],
      });
      return result.rows[0];
    },

    /**
     * Leases undelivered messages to this dispatcher for `leaseMs`, skipping those another is leasing right now: no
     * dispatcher takes them meanwhile, and no transaction stays open while they are delivered (one would hold back
     * Postgres's clean-up of the rows every click rewrites). Up to `limit` workflows' oldest undelivered messages are
     * taken, each with those after it up to one that is not available (deferred), so a referral's messages reach it
     * in the order they were taken and together.
     */
    async leaseBatch(taskQueue: string, limit: number, leaseMs: number): Promise<IntakeRow[]> {
      const result = await pool.query<IntakeRow>({
        name: 'intake.lease-batch',
        text: `WITH heads AS (
           SELECT i.id, i.workflow_id FROM intake i
           WHERE i.task_queue = $1 AND i.delivered_at IS NULL AND i.available_at <= now()
             AND NOT EXISTS (SELECT 1 FROM intake e WHERE e.workflow_id = i.workflow_id AND e.delivered_at IS NULL AND e.id < i.id)
           ORDER BY i.id LIMIT $2
           FOR UPDATE SKIP LOCKED),
         -- Followers are looked up head by head (a join would hash the whole backlog at every lease), and wait for a
         -- lock rather than skip it: only a direct send's lease holds one for a moment, and it takes nothing of a
         -- workflow whose head is leased here.
         followers AS (
           SELECT f.id FROM heads h CROSS JOIN LATERAL (
             SELECT f.id FROM intake f
             WHERE f.workflow_id = h.workflow_id AND f.delivered_at IS NULL AND f.id > h.id
               AND NOT EXISTS (
                 SELECT 1 FROM intake e
                 WHERE e.workflow_id = f.workflow_id AND e.delivered_at IS NULL AND e.id <= f.id AND e.id > h.id AND e.available_at > now())
             FOR UPDATE) f),
         leased AS (
           UPDATE intake SET available_at = now() + make_interval(secs => $3::float8 / 1000), leased = true
           -- An array, so the rows are found by their key: as a join, Postgres scans the whole table for them.
           WHERE id = ANY (ARRAY(SELECT id FROM heads UNION ALL SELECT id FROM followers))
           RETURNING *)
         SELECT ${ROW_COLUMNS} ${LEASED_FROM}
         ORDER BY i.id`,
        values: [taskQueue, limit, leaseMs],
      });
      return result.rows;
    },

    /**
     * One workflow's undelivered messages, oldest first, leased for `leaseMs`: no dispatcher takes them meanwhile, and no
     * connection is held while they are delivered. Those deferred after a failed delivery are taken too. While one is
     * leased elsewhere (a dispatcher delivering it), none is taken and `busy` says so, unless `takeLeased`: delivered
     * again it would cost its workflow a signal more, but its dispatcher may have died.
     */
    async leaseForWorkflow(workflowId: string, leaseMs: number, takeLeased: boolean): Promise<{ rows: IntakeRow[]; busy: boolean }> {
      const result = await pool.query<IntakeRow & { busy: boolean }>({
        name: 'intake.lease-for-workflow',
        text: `WITH pending AS (
           SELECT id FROM intake WHERE workflow_id = $1 AND delivered_at IS NULL),
         free AS (
           SELECT id FROM intake
           WHERE id IN (SELECT id FROM pending) AND delivered_at IS NULL AND ($3 OR NOT (leased AND available_at > now()))
           FOR UPDATE SKIP LOCKED),
         leased AS (
           UPDATE intake SET available_at = now() + make_interval(secs => $2::float8 / 1000), leased = true
           WHERE id IN (SELECT id FROM free) AND (SELECT count(*) FROM free) = (SELECT count(*) FROM pending)
           RETURNING *)
         SELECT ${ROW_COLUMNS}, false AS busy ${LEASED_FROM}
         UNION ALL
         SELECT ${ROW_COLUMNS}, true AS busy FROM intake i ${WITH_CODES}
         WHERE i.id IN (SELECT id FROM pending EXCEPT SELECT id FROM free)
         ORDER BY intake_id`,
        values: [workflowId, leaseMs, takeLeased],
      });
      return { rows: result.rows.filter((row) => !row.busy), busy: result.rows.some((row) => row.busy) };
    },

    /**
     * Marks `rows` delivered, in one statement with the flag that sends the workers' sweep to those of their referrals
     * that were erased: a message delivered as its referral was erased started a run again, whose history holds it.
     */
    async markDelivered(rows: Array<Pick<IntakeRow, 'intake_id' | 'referral_id'>>): Promise<void> {
      if (rows.length === 0) return;
      await pool.query({
        name: 'intake.mark-delivered',
        text: `WITH delivered AS (UPDATE intake SET delivered_at = now() WHERE id = ANY ($1::bigint[]))
         UPDATE erasures SET runs_pending_since = clock_timestamp() WHERE referral_id = ANY ($2::uuid[])`,
        values: [rows.map((row) => row.intake_id), [...new Set(rows.map((row) => row.referral_id))]],
      });
    },

    /** Messages Temporal did not take: tried again after `delayMs`. */
    async defer(ids: string[], delayMs: number): Promise<void> {
      if (ids.length === 0) return;
      await pool.query({
        name: 'intake.defer',
        text: `UPDATE intake SET attempts = attempts + 1, leased = false, available_at = now() + make_interval(secs => $2::float8 / 1000) WHERE id = ANY ($1::bigint[])`,
        values: [ids, delayMs],
      });
    },

    async backlog(): Promise<IntakeBacklog> {
      const result = await pool.query<{ undelivered: number; oldest_age_seconds: number | null }>(
        `SELECT count(*)::int AS undelivered, extract(epoch FROM now() - min(received_at))::float8 AS oldest_age_seconds
         FROM intake WHERE delivered_at IS NULL`,
      );
      const row = result.rows[0];
      return { undelivered: row.undelivered, oldestAgeSeconds: Math.max(0, row.oldest_age_seconds ?? 0) };
    },

    /** Makes `client` hear the intake's NOTIFY, sent by `wakeDispatchers` after statements that took messages. */
    async listen(client: PoolClient): Promise<void> {
      await client.query('LISTEN intake');
    },

    /**
     * Delivered messages are kept `keptMs` for the burst rule's minute, and past it until their referral is written:
     * until then they are what a read of the referral and its known-referral confirmation find. `unwrittenKeptMs`
     * bounds that wait for a referral no worker ever writes.
     */
    async pruneDelivered(keptMs: number, unwrittenKeptMs: number): Promise<number> {
      const result = await pool.query(
        `DELETE FROM intake i
         WHERE i.delivered_at < now() - make_interval(secs => $1::float8 / 1000)
           AND (EXISTS (SELECT 1 FROM referrals r WHERE r.id = i.referral_id) OR i.delivered_at < now() - make_interval(secs => $2::float8 / 1000))`,
        [keptMs, unwrittenKeptMs],
      );
      return result.rowCount ?? 0;
    },
  };
}

export type IntakeStore = ReturnType<typeof createIntakeStore>;
