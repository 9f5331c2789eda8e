import type { Pool, PoolClient } from 'pg';
import { conversionTimes } from '../domain/conversion-time';
import { conversionRate, FUNNEL_STAGES } from '../domain/funnel';
import { FUNNEL_STATUSES, RECRUITED_STATUSES } from '../domain/journey';
import type { RawCounts } from '../services/counts-service';
import type { ReferralSnapshot, TakenMessage } from '../domain/referral';
import { CODE_COLUMNS, CODE_FROM, type CodeRow } from './codes';
import { snapshotFromRow, type ReferralRow } from './referrals';
import { sqlList } from './transaction';

// Every function here runs inside withOrgScope: row-level security already limits rows to the
// caller's organisation; the explicit filters below say the same for readers of the SQL.

const iso = (value: Date | null) => (value ? value.toISOString() : null);

/** The reads one after another: they share the scoped connection, which takes one query at a time. */
async function inTurn<T extends readonly (() => Promise<unknown>)[]>(...reads: T): Promise<{ -readonly [K in keyof T]: Awaited<ReturnType<T[K]>> }> {
  const results: unknown[] = [];
  for (const read of reads) results.push(await read());
  return results as { -readonly [K in keyof T]: Awaited<ReturnType<T[K]>> };
}

export async function mentorCounts(client: PoolClient, mentorId: string): Promise<RawCounts> {
  const result = await client.query('SELECT * FROM get_attribution_counts($1)', [mentorId]);
  const row = result.rows[0];
  return { totalClicks: row.total_clicks, pendingCount: row.pending_count, confirmedCount: row.confirmed_count };
}

/** Whether the user is a member of the organisation. */
export async function isMember(client: PoolClient, userId: string, orgId: string): Promise<boolean> {
  return ((await client.query('SELECT 1 FROM users WHERE id = $1 AND org_id = $2', [userId, orgId])).rowCount ?? 0) > 0;
}

export interface ReferralFilters {
  mentorId?: string;
  newMemberId?: string;
  status?: string;
  stage?: string;
  from?: string;
  to?: string;
  cursor?: Cursor;
  limit: number;
}

/** Where a page of referrals continues: after this row, newest first. */
export interface Cursor {
  createdAt: string;
  id: string;
}

/** A page of rows fetched newest first with one row more than `limit`: the page, and where the next one starts. */
export function pageOf<Row extends { created_at: Date; id: string }>(fetched: Row[], limit: number): { rows: Row[]; next: Cursor | null } {
  const rows = fetched.slice(0, limit);
  const last = rows[rows.length - 1];
  return { rows, next: fetched.length > limit && last ? { createdAt: last.created_at.toISOString(), id: last.id } : null };
}

type ListedReferral = ReferralRow & { created_at: Date };

/** A referral as the API lists it. */
export function referralSummary(referral: ReferralSnapshot, createdAt: string) {
  return {
    id: referral.referralId,
    mentorId: referral.mentorId,
    referralCodeId: referral.referralCodeId,
    stage: referral.stage,
    status: referral.status,
    impliedSteps: referral.impliedSteps,
    stuck: referral.stuck,
    direct: referral.direct,
    newMemberId: referral.newMemberId,
    clickedAt: referral.clickedAt,
    installedAt: referral.installedAt,
    accountCreatedAt: referral.accountCreatedAt,
    firstLoginAt: referral.firstLoginAt,
    confirmedAt: referral.confirmedAt,
    createdAt,
  };
}

const summaryOfRow = (row: ListedReferral) => referralSummary(snapshotFromRow(row), row.created_at.toISOString());

export async function listReferrals(client: PoolClient, orgId: string, filters: ReferralFilters) {
  const where = ['org_id = $1'];
  const values: unknown[] = [orgId];
  const add = (clause: string, value: unknown) => {
    values.push(value);
    where.push(clause.replace('?', `$${values.length}`));
  };
  if (filters.mentorId) add('mentor_id = ?', filters.mentorId);
  if (filters.newMemberId) add('new_member_id = ?', filters.newMemberId);
  if (filters.status) add('status = ?', filters.status);
  if (filters.stage) add('stage = ?', filters.stage);
  if (filters.from) add('created_at >= ?', filters.from);
  if (filters.to) add('created_at < ?', filters.to);
  const cursor = filters.cursor;
  if (cursor) {
    values.push(cursor.createdAt, cursor.id);
    where.push(`(created_at, id) < ($${values.length - 1}::timestamptz, $${values.length}::uuid)`);
  }
  values.push(filters.limit + 1);
  const result = await client.query<ListedReferral>(
    `SELECT * FROM referrals WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT $${values.length}`,
    values,
  );
  const { rows, next } = pageOf(result.rows, filters.limit);
  return { items: rows.map(summaryOfRow), next };
}

/** A referral of the organisation with its event timeline, or nothing. */
export async function referralDetail(client: PoolClient, orgId: string, referralId: string) {
  const found = await client.query<ListedReferral>('SELECT * FROM referrals WHERE id = $1 AND org_id = $2', [referralId, orgId]);
  const row = found.rows[0];
  if (!row) return undefined;
  const events = await client.query(
    'SELECT type, stage, status, detail, occurred_at FROM referral_events WHERE referral_id = $1 ORDER BY id',
    [referralId],
  );
  return {
    ...summaryOfRow(row),
    timeline: events.rows.map((event) => ({
      type: event.type,
      stage: event.stage,
      status: event.status,
      detail: event.detail,
      occurredAt: iso(event.occurred_at),
    })),
  };
}

/** A message the intake took for a referral, with the referral's code. */
export type TakenMessageRow = CodeRow & TakenMessage & { visitor_hash: string; received_at: Date };

/**
 * The messages the intake took for a referral of the organisation, oldest first, with its code: a referral its workflow
 * has not written yet is only these. None for an erased referral.
 */
export async function takenMessages(client: PoolClient, orgId: string, referralId: string): Promise<TakenMessageRow[]> {
  const result = await client.query<TakenMessageRow>(
    `SELECT i.kind, i.message, i.visitor_hash, i.received_at, ${CODE_COLUMNS}
     ${CODE_FROM} JOIN intake i ON i.referral_code_id = c.id
     WHERE i.referral_id = $1 AND i.org_id = $2 AND NOT EXISTS (SELECT 1 FROM erasures e WHERE e.referral_id = i.referral_id)
     ORDER BY i.id`,
    [referralId, orgId],
  );
  return result.rows;
}

/** Referrals that reached each stage, or further. */
const FUNNEL_COUNTS_SQL = `
  ${FUNNEL_STAGES.map((stage, index) => `count(*) FILTER (WHERE stage IN (${sqlList(FUNNEL_STAGES.slice(index))})) AS ${stage}`).join(',\n  ')},
  count(*) FILTER (WHERE status = 'confirmed') AS confirmed,
  percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM confirmed_at - clicked_at))
    FILTER (WHERE status = 'confirmed') AS median_seconds`;

type FunnelRow = Record<(typeof FUNNEL_STAGES)[number] | 'confirmed', string | number> & { median_seconds: string | number | null };

function funnelOf(row: FunnelRow) {
  return {
    funnel: Object.fromEntries(FUNNEL_STAGES.map((stage) => [stage, Number(row[stage])])),
    confirmed: Number(row.confirmed),
    medianTimeToConvertSeconds: row.median_seconds === null ? null : Math.round(Number(row.median_seconds)),
  };
}

export async function mentorStats(client: PoolClient, mentorId: string) {
  const [funnel, counts] = await inTurn(
    () => client.query(`SELECT ${FUNNEL_COUNTS_SQL} FROM referrals WHERE mentor_id = $1 AND status IN (${sqlList(FUNNEL_STATUSES)})`, [mentorId]),
    () => mentorCounts(client, mentorId),
  );
  const { funnel: stages, medianTimeToConvertSeconds } = funnelOf(funnel.rows[0]);
  return {
    mentorId,
    funnel: stages,
    totalClicks: counts.totalClicks,
    pendingAttributions: counts.pendingCount,
    confirmedAttributions: counts.confirmedCount,
    conversionRate: conversionRate(counts.confirmedCount, counts.totalClicks),
    medianTimeToConvertSeconds,
  };
}

/** RecruitProfile: how each recruit came in and where they stand, with no contact data. */
export async function mentorRecruits(client: PoolClient, mentorId: string) {
  const result = await client.query(
    `SELECT r.id, r.stage, r.status, r.is_direct, r.clicked_at, r.confirmed_at,
       (SELECT c.device_metadata->>'shareChannel' FROM click_events c
         WHERE c.referral_id = r.id ORDER BY c.occurred_at LIMIT 1) AS share_channel
     FROM referrals r
     WHERE r.mentor_id = $1 AND r.status IN (${sqlList(RECRUITED_STATUSES)})
     ORDER BY r.confirmed_at DESC NULLS LAST, r.id`,
    [mentorId],
  );
  return result.rows.map((row) => ({
    referralId: row.id,
    stage: row.stage,
    status: row.status,
    direct: row.is_direct,
    shareChannel: row.share_channel,
    clickedAt: iso(row.clicked_at),
    confirmedAt: iso(row.confirmed_at),
  }));
}

/** The badges the mentor was awarded, the latest first. */
export async function mentorBadges(client: PoolClient, mentorId: string) {
  const result = await client.query(
    'SELECT badge_key, milestone, confirmed_count, awarded_at FROM badge_awards WHERE mentor_id = $1 ORDER BY awarded_at DESC, milestone DESC',
    [mentorId],
  );
  return result.rows.map((row) => ({ badge: row.badge_key, milestone: row.milestone, confirmedCount: row.confirmed_count, awardedAt: iso(row.awarded_at) }));
}

/** Who the caller is, as the service knows them: for a page to greet them and pick their view. */
export async function whoAmI(client: PoolClient, userId: string, orgId: string) {
  const result = await client.query<{ display_name: string | null; org_name: string | null }>(
    'SELECT u.display_name, o.name AS org_name FROM users u JOIN organisations o ON o.id = u.org_id WHERE u.id = $1 AND u.org_id = $2',
    [userId, orgId],
  );
  return { displayName: result.rows[0]?.display_name ?? null, orgName: result.rows[0]?.org_name ?? null };
}

interface MentorSummaryRow {
  mentor_id: string;
  display_name: string | null;
  total_clicks: number;
  pending_count: number;
  confirmed_count: number;
}

/** MentorPerformanceSummary for each mentor assigned to the coordinator, named as the organisation knows them. */
export async function coordinatorAggregate(client: PoolClient, coordinatorId: string) {
  const result = await client.query<MentorSummaryRow>(
    `SELECT a.mentor_id, u.display_name, c.total_clicks, c.pending_count, c.confirmed_count
     FROM coordinator_assignments a CROSS JOIN LATERAL get_attribution_counts(a.mentor_id) c
     LEFT JOIN users u ON u.org_id = a.org_id AND u.id = a.mentor_id
     WHERE a.coordinator_id = $1
     ORDER BY c.confirmed_count DESC, a.mentor_id`,
    [coordinatorId],
  );
  return result.rows.map((row) => ({
    mentorId: row.mentor_id,
    displayName: row.display_name,
    totalClicks: row.total_clicks,
    pendingAttributions: row.pending_count,
    confirmedAttributions: row.confirmed_count,
    conversionRate: conversionRate(row.confirmed_count, row.total_clicks),
  }));
}

export interface DashboardQuery {
  from: string;
  to: string;
  granularity: 'day' | 'week' | 'month';
}

/** How many referrals awaiting review, and how many stuck ones, the dashboard lists (the oldest first). */
const ATTENTION_LISTED = 50;

interface AttentionRow {
  id: string;
  mentor_id: string;
  display_name: string | null;
  flag_reason: string | null;
  clicked_at: Date;
  account_created_at: Date | null;
}

/** Referrals a coordinator should act on, the longest waiting first; an erased one's journey is over. */
async function attentionList(client: PoolClient, orgId: string, condition: string, waitingSince: string): Promise<AttentionRow[]> {
  const result = await client.query<AttentionRow>(
    `SELECT r.id, r.mentor_id, u.display_name, r.flag_reason, r.clicked_at, r.account_created_at
     FROM referrals r JOIN users u ON u.org_id = r.org_id AND u.id = r.mentor_id
     WHERE r.org_id = $1 AND ${condition} AND NOT EXISTS (SELECT 1 FROM erasures e WHERE e.referral_id = r.id)
     ORDER BY ${waitingSince}, r.id LIMIT ${ATTENTION_LISTED}`,
    [orgId],
  );
  return result.rows;
}

const DAY_MS = 86_400_000;
/** The dashboard counts whole days (UTC): a period's start goes back to its day's start, its end on to the next. */
const dayStart = (time: string) => Math.floor(Date.parse(time) / DAY_MS) * DAY_MS;
const dayEnd = (time: string) => Math.ceil(Date.parse(time) / DAY_MS) * DAY_MS;
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Whole days of an organisation (or of one of its mentors): `[org, first day, day after the last, mentor or null]`. */
type Days = [string, string, string, string | null];

function daysOf(orgId: string, query: DashboardQuery, mentorId: string | null = null) {
  const from = dayStart(query.from);
  const to = Math.max(dayEnd(query.to), from + DAY_MS);
  return { from: new Date(from).toISOString(), to: new Date(to).toISOString(), days: [orgId, dayOf(from), dayOf(to), mentorId] as Days };
}

const IN_DAYS = 'org_id = $1 AND day >= $2::date AND day < $3::date AND ($4::uuid IS NULL OR mentor_id = $4::uuid)';

/** The funnel of the referrals first clicked in the days, as far as each has come. */
async function cohortFunnel(client: PoolClient, days: Days) {
  const result = await client.query(
    `SELECT coalesce(sum(referrals), 0)::int AS clicked, coalesce(sum(installed), 0)::int AS installed,
       coalesce(sum(account_created), 0)::int AS account_created, coalesce(sum(first_login), 0)::int AS first_login,
       coalesce(sum(confirmed), 0)::int AS confirmed
     FROM dashboard_daily_cohorts WHERE ${IN_DAYS}`,
    days,
  );
  const row = result.rows[0];
  return { clicked: row.clicked, installed: row.installed, account_created: row.account_created, first_login: row.first_login, confirmed: row.confirmed };
}

/** Clicks, accounts created and confirmations per period of the days, every period listed. */
async function periodSeries(client: PoolClient, days: Days, granularity: DashboardQuery['granularity']) {
  const result = await client.query(
    `WITH periods AS (
       SELECT generate_series(date_trunc($5, $2::date::timestamp), ($3::date - 1)::timestamp, ('1 ' || $5)::interval) AS period
     ),
     counted AS (
       SELECT date_trunc($5, day::timestamp) AS period, sum(clicks)::int AS clicks, sum(accounts)::int AS accounts, sum(confirmed)::int AS confirmed
       FROM dashboard_daily_events WHERE ${IN_DAYS} GROUP BY 1
     )
     SELECT p.period AT TIME ZONE 'UTC' AS period, coalesce(c.clicks, 0) AS clicks, coalesce(c.accounts, 0) AS accounts, coalesce(c.confirmed, 0) AS confirmed
     FROM periods p LEFT JOIN counted c ON c.period = p.period ORDER BY p.period`,
    [...days, granularity],
  );
  return result.rows.map((row) => ({ periodStart: iso(row.period), clicks: row.clicks, accountsCreated: row.accounts, confirmed: row.confirmed }));
}

/** A mentor's funnel and trend over whole days, from the daily aggregates. */
export async function mentorTrend(client: PoolClient, orgId: string, mentorId: string, query: DashboardQuery) {
  const { from, to, days } = daysOf(orgId, query, mentorId);
  const [funnel, timeSeries] = await inTurn(
    () => cohortFunnel(client, days),
    () => periodSeries(client, days, query.granularity),
  );
  return { mentorId, from, to, granularity: query.granularity, funnel, timeSeries };
}

/** The org's recruitment over whole days, from the daily aggregates (and the few rows that wait for someone). */
export async function recruitmentDashboard(client: PoolClient, orgId: string, query: DashboardQuery) {
  const { from, to, days } = daysOf(orgId, query);
  const orgDays = days.slice(0, 3);
  const now = new Date();
  const [funnel, series, topMentors, channels, campaigns, conversions, flagged, stuck] = await inTurn(
    () => cohortFunnel(client, days),
    () => periodSeries(client, days, query.granularity),
    () => client.query(
      // Ranked by confirmations in the period; conversion is the share of the mentor's referrals clicked in it that are confirmed.
      `WITH cohort AS (
         SELECT mentor_id, sum(referrals)::int AS referrals, sum(confirmed)::int AS converted FROM dashboard_daily_cohorts
         WHERE org_id = $1 AND day >= $2::date AND day < $3::date GROUP BY mentor_id
       ),
       confirmations AS (
         SELECT mentor_id, sum(confirmed)::int AS confirmed FROM dashboard_daily_events
         WHERE org_id = $1 AND day >= $2::date AND day < $3::date AND confirmed <> 0 GROUP BY mentor_id
       )
       SELECT m.mentor_id, u.display_name, coalesce(f.confirmed, 0) AS confirmed, coalesce(c.referrals, 0) AS referrals, coalesce(c.converted, 0) AS converted
       FROM (SELECT mentor_id FROM cohort WHERE referrals > 0 UNION SELECT mentor_id FROM confirmations WHERE confirmed > 0) m
       JOIN users u ON u.org_id = $1 AND u.id = m.mentor_id
       LEFT JOIN cohort c ON c.mentor_id = m.mentor_id
       LEFT JOIN confirmations f ON f.mentor_id = m.mentor_id
       ORDER BY confirmed DESC, referrals DESC, m.mentor_id LIMIT 10`,
      orgDays,
    ),
    () => client.query(
      `SELECT channel, sum(clicks)::int AS clicks, sum(confirmed)::int AS confirmed FROM dashboard_daily_events
       WHERE org_id = $1 AND day >= $2::date AND day < $3::date AND channel <> ''
       GROUP BY channel HAVING sum(clicks) > 0 OR sum(confirmed) > 0 ORDER BY clicks DESC, channel`,
      orgDays,
    ),
    () => client.query(
      `SELECT k.campaign, sum(d.referrals)::int AS referrals, sum(d.confirmed)::int AS confirmed
       FROM dashboard_daily_cohorts d JOIN referral_codes k ON k.id = d.referral_code_id
       WHERE d.org_id = $1 AND d.day >= $2::date AND d.day < $3::date
       GROUP BY 1 HAVING sum(d.referrals) > 0 ORDER BY referrals DESC, k.campaign NULLS LAST`,
      orgDays,
    ),
    () => client.query<{ bucket: number; confirmed: number }>(
      `SELECT bucket, sum(confirmed)::int AS confirmed FROM dashboard_daily_conversions
       WHERE org_id = $1 AND day >= $2::date AND day < $3::date GROUP BY bucket`,
      orgDays,
    ),
    () => attentionList(client, orgId, "r.status = 'flagged'", 'r.clicked_at'),
    () => attentionList(client, orgId, "r.status = 'pending' AND r.stuck", 'coalesce(r.account_created_at, r.clicked_at)'),
  );
  const times = conversionTimes(conversions.rows);
  const waitingSince = (row: AttentionRow) => row.account_created_at ?? row.clicked_at;
  return {
    orgId,
    from,
    to,
    granularity: query.granularity,
    funnel,
    medianTimeToConvertSeconds: times.medianSeconds,
    timeToConvert: times.ranges,
    timeSeries: series,
    topMentors: topMentors.rows.map((row) => ({
      mentorId: row.mentor_id,
      displayName: row.display_name,
      confirmedAttributions: row.confirmed,
      referrals: row.referrals,
      conversionRate: conversionRate(row.converted, row.referrals),
    })),
    channels: channels.rows.map((row) => ({
      channel: row.channel,
      clicks: row.clicks,
      confirmedAttributions: row.confirmed,
      conversionRate: conversionRate(row.confirmed, row.clicks),
    })),
    campaigns: campaigns.rows.map((row) => ({
      campaign: row.campaign,
      referrals: row.referrals,
      confirmedAttributions: row.confirmed,
      conversionRate: conversionRate(row.confirmed, row.referrals),
    })),
    needsReview: flagged.map((row) => ({
      referralId: row.id,
      mentorId: row.mentor_id,
      mentorName: row.display_name,
      flagReason: row.flag_reason,
      clickedAt: iso(row.clicked_at),
    })),
    stuck: stuck.map((row) => ({
      referralId: row.id,
      mentorId: row.mentor_id,
      mentorName: row.display_name,
      waitingSince: iso(waitingSince(row)),
      waitingSeconds: Math.max(0, Math.round((now.getTime() - waitingSince(row).getTime()) / 1000)),
    })),
  };
}

/** Cross-organisation totals, no personal data: what a platform admin sees. */
export async function platformTotals(pool: Pool) {
  const totals = await pool.query(
    `SELECT (SELECT count(*) FROM organisations) AS organisations,
       (SELECT count(*) FROM click_events WHERE NOT is_duplicate) AS total_clicks,
       (SELECT count(*) FROM referrals WHERE status = 'pending' AND account_created_at IS NOT NULL) AS pending,
       (SELECT count(*) FROM referrals WHERE status = 'confirmed') AS confirmed`,
  );
  const row = totals.rows[0];
  return { organisations: row.organisations, totalClicks: row.total_clicks, pendingAttributions: row.pending, confirmedAttributions: row.confirmed };
}
