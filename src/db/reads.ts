import type { Pool, PoolClient } from 'pg';
import { conversionRate, FUNNEL_STAGES } from '../domain/funnel';
import { FUNNEL_STATUSES, RECRUITED_STATUSES } from '../domain/journey';
import type { RawCounts } from '../services/counts-service';
import type { ReferralRow } from './referrals';
import { sqlList } from './transaction';

// Every function here runs inside withOrgScope: row-level security already limits rows to the
// caller's organisation; the explicit filters below say the same for readers of the SQL.

const iso = (value: Date | null) => (value ? value.toISOString() : null);

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

type ListedReferral = ReferralRow & { created_at: Date };

function referralSummary(row: ListedReferral) {
  return {
    id: row.id,
    mentorId: row.mentor_id,
    referralCodeId: row.referral_code_id,
    stage: row.stage,
    status: row.status,
    impliedSteps: row.implied_steps,
    stuck: row.stuck,
    direct: row.is_direct,
    newMemberId: row.new_member_id,
    clickedAt: iso(row.clicked_at as Date),
    installedAt: iso(row.installed_at as Date | null),
    accountCreatedAt: iso(row.account_created_at as Date | null),
    firstLoginAt: iso(row.first_login_at as Date | null),
    confirmedAt: iso(row.confirmed_at as Date | null),
    createdAt: iso(row.created_at),
  };
}

export async function listReferrals(client: PoolClient, orgId: string, filters: ReferralFilters) {
  const where = ['org_id = $1'];
  const values: unknown[] = [orgId];
  const add = (clause: string, value: unknown) => {
    values.push(value);
    where.push(clause.replace('?', `$${values.length}`));
  };
  if (filters.mentorId) add('mentor_id = ?', filters.mentorId);
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
  const rows = result.rows.slice(0, filters.limit);
  const last = rows[rows.length - 1];
  return {
    items: rows.map(referralSummary),
    next: result.rows.length > filters.limit && last ? { createdAt: last.created_at.toISOString(), id: last.id } : null,
  };
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
    ...referralSummary(row),
    timeline: events.rows.map((event) => ({
      type: event.type,
      stage: event.stage,
      status: event.status,
      detail: event.detail,
      occurredAt: iso(event.occurred_at),
    })),
  };
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
  const [funnel, counts] = await Promise.all([
    client.query(`SELECT ${FUNNEL_COUNTS_SQL} FROM referrals WHERE mentor_id = $1 AND status IN (${sqlList(FUNNEL_STATUSES)})`, [mentorId]),
    mentorCounts(client, mentorId),
  ]);
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

/** MentorPerformanceSummary for each mentor assigned to the coordinator. */
export async function coordinatorAggregate(client: PoolClient, coordinatorId: string) {
  const result = await client.query(
    `SELECT a.mentor_id, c.total_clicks, c.pending_count, c.confirmed_count
     FROM coordinator_assignments a CROSS JOIN LATERAL get_attribution_counts(a.mentor_id) c
     WHERE a.coordinator_id = $1
     ORDER BY c.confirmed_count DESC, a.mentor_id`,
    [coordinatorId],
  );
  return result.rows.map((row) => ({
    mentorId: row.mentor_id,
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

/** The lower bounds of the time-to-convert distribution's buckets: an hour, a day, 3 days, a week, 2 weeks, 30 days. */
export const TIME_TO_CONVERT_BOUNDS = [0, 3600, 86_400, 3 * 86_400, 7 * 86_400, 14 * 86_400, 30 * 86_400];
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

/** Referrals a coordinator should act on, the longest waiting first. */
async function attentionList(client: PoolClient, orgId: string, condition: string, waitingSince: string): Promise<AttentionRow[]> {
  const result = await client.query<AttentionRow>(
    `SELECT r.id, r.mentor_id, u.display_name, r.flag_reason, r.clicked_at, r.account_created_at
     FROM referrals r JOIN users u ON u.id = r.mentor_id
     WHERE r.org_id = $1 AND ${condition} ORDER BY ${waitingSince}, r.id LIMIT ${ATTENTION_LISTED}`,
    [orgId],
  );
  return result.rows;
}

export async function recruitmentDashboard(client: PoolClient, orgId: string, query: DashboardQuery) {
  const range = [orgId, query.from, query.to];
  const now = new Date();
  const [funnel, series, topMentors, channels, campaigns, timeToConvert, flagged, stuck] = await Promise.all([
    client.query(
      `SELECT ${FUNNEL_COUNTS_SQL} FROM referrals
       WHERE org_id = $1 AND clicked_at >= $2 AND clicked_at < $3 AND status IN (${sqlList(FUNNEL_STATUSES)})`,
      range,
    ),
    client.query(
      // One pass per table grouped by period, instead of three counts per period.
      `WITH periods AS (
         SELECT generate_series(date_trunc($4, $2::timestamptz), $3::timestamptz - interval '1 microsecond', ('1 ' || $4)::interval) AS period
       ),
       clicks AS (
         SELECT date_trunc($4, occurred_at) AS period, count(*) AS n FROM click_events
         WHERE org_id = $1 AND NOT is_duplicate AND occurred_at >= $2 AND occurred_at < $3 GROUP BY 1
       ),
       accounts AS (
         SELECT date_trunc($4, account_created_at) AS period, count(*) AS n FROM referrals
         WHERE org_id = $1 AND account_created_at >= $2 AND account_created_at < $3 GROUP BY 1
       ),
       confirmations AS (
         SELECT date_trunc($4, confirmed_at) AS period, count(*) AS n FROM referrals
         WHERE org_id = $1 AND status = 'confirmed' AND confirmed_at >= $2 AND confirmed_at < $3 GROUP BY 1
       )
       SELECT p.period, coalesce(c.n, 0) AS clicks, coalesce(a.n, 0) AS accounts, coalesce(f.n, 0) AS confirmed
       FROM periods p
       LEFT JOIN clicks c ON c.period = p.period
       LEFT JOIN accounts a ON a.period = p.period
       LEFT JOIN confirmations f ON f.period = p.period
       ORDER BY p.period`,
      [...range, query.granularity],
    ),
    client.query(
      // Ranked by confirmations in the period; conversion is the share of the mentor's referrals clicked in it that are confirmed.
      `WITH cohort AS (
         SELECT mentor_id, count(*) AS referrals, count(*) FILTER (WHERE status = 'confirmed') AS converted FROM referrals
         WHERE org_id = $1 AND clicked_at >= $2 AND clicked_at < $3 AND status IN (${sqlList(FUNNEL_STATUSES)}) GROUP BY mentor_id
       ),
       confirmations AS (
         SELECT mentor_id, count(*) AS confirmed FROM referrals
         WHERE org_id = $1 AND status = 'confirmed' AND confirmed_at >= $2 AND confirmed_at < $3 GROUP BY mentor_id
       )
       SELECT m.mentor_id, u.display_name, coalesce(f.confirmed, 0) AS confirmed, coalesce(c.referrals, 0) AS referrals, coalesce(c.converted, 0) AS converted
       FROM (SELECT mentor_id FROM cohort UNION SELECT mentor_id FROM confirmations) m
       JOIN users u ON u.id = m.mentor_id
       LEFT JOIN cohort c ON c.mentor_id = m.mentor_id
       LEFT JOIN confirmations f ON f.mentor_id = m.mentor_id
       ORDER BY confirmed DESC, referrals DESC, m.mentor_id LIMIT 10`,
      range,
    ),
    client.query(
      `SELECT coalesce(c.device_metadata->>'shareChannel', CASE WHEN c.is_implicit THEN 'direct' ELSE 'unknown' END) AS channel,
         count(*) AS clicks,
         count(DISTINCT c.referral_id) FILTER (WHERE r.status = 'confirmed') AS confirmed
       FROM click_events c JOIN referrals r ON r.id = c.referral_id
       WHERE c.org_id = $1 AND NOT c.is_duplicate AND c.occurred_at >= $2 AND c.occurred_at < $3
       GROUP BY 1 ORDER BY clicks DESC, channel`,
      range,
    ),
    client.query(
      `SELECT k.campaign, count(*) AS referrals, count(*) FILTER (WHERE r.status = 'confirmed') AS confirmed
       FROM referrals r JOIN referral_codes k ON k.id = r.referral_code_id
       WHERE r.org_id = $1 AND r.clicked_at >= $2 AND r.clicked_at < $3 AND r.status IN (${sqlList(FUNNEL_STATUSES)})
       GROUP BY 1 ORDER BY referrals DESC, k.campaign NULLS LAST`,
      range,
    ),
    client.query(
      `SELECT b.bucket, count(*) AS confirmed FROM referrals r,
         LATERAL (SELECT width_bucket(extract(epoch FROM r.confirmed_at - r.clicked_at), $4::float8[]) AS bucket) b
       WHERE r.org_id = $1 AND r.status = 'confirmed' AND r.confirmed_at >= $2 AND r.confirmed_at < $3
       GROUP BY 1`,
      [...range, TIME_TO_CONVERT_BOUNDS.slice(1)],
    ),
    attentionList(client, orgId, "r.status = 'flagged'", 'r.clicked_at'),
    attentionList(client, orgId, "r.status = 'pending' AND r.stuck", 'coalesce(r.account_created_at, r.clicked_at)'),
  ]);
  const { funnel: stages, confirmed, medianTimeToConvertSeconds } = funnelOf(funnel.rows[0]);
  const convertedIn = new Map(timeToConvert.rows.map((row) => [Number(row.bucket), Number(row.confirmed)]));
  const waitingSince = (row: AttentionRow) => row.account_created_at ?? row.clicked_at;
  return {
    orgId,
    from: query.from,
    to: query.to,
    granularity: query.granularity,
    funnel: { ...stages, confirmed },
    medianTimeToConvertSeconds,
    timeToConvert: TIME_TO_CONVERT_BOUNDS.map((fromSeconds, index) => ({
      fromSeconds,
      toSeconds: TIME_TO_CONVERT_BOUNDS[index + 1] ?? null,
      confirmed: convertedIn.get(index) ?? 0,
    })),
    timeSeries: series.rows.map((row) => ({
      periodStart: iso(row.period),
      clicks: row.clicks,
      accountsCreated: row.accounts,
      confirmed: row.confirmed,
    })),
    topMentors: topMentors.rows.map((row) => ({
      mentorId: row.mentor_id,
      displayName: row.display_name,
      confirmedAttributions: Number(row.confirmed),
      referrals: Number(row.referrals),
      conversionRate: conversionRate(Number(row.converted), Number(row.referrals)),
    })),
    channels: channels.rows.map((row) => ({
      channel: row.channel,
      clicks: row.clicks,
      confirmedAttributions: row.confirmed,
      conversionRate: conversionRate(row.confirmed, row.clicks),
    })),
    campaigns: campaigns.rows.map((row) => ({
      campaign: row.campaign,
      referrals: Number(row.referrals),
      confirmedAttributions: Number(row.confirmed),
      conversionRate: conversionRate(Number(row.confirmed), Number(row.referrals)),
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
