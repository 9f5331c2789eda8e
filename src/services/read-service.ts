import type { Pool, PoolClient } from 'pg';
import { z } from 'zod';
import {
  coordinatorAggregate,
  isMember,
  listReferrals,
  mentorBadges,
  mentorRecruits,
  mentorStats,
  mentorTrend,
  platformTotals,
  recruitmentDashboard,
  referralDetail,
  referralSummary,
  takenMessages,
  whoAmI,
  type Cursor,
  type DashboardQuery,
  type ReferralFilters,
  type TakenMessageRow,
} from '../db/reads';
import { settingsOf } from '../db/codes';
import { withOrgScope } from '../db/scoped';
import { authorise, type Caller } from '../domain/access';
import { journeyOfMessages, newReferral, type JourneyMessage } from '../domain/journey';
import { NotFoundError } from '../errors';
import { uuid } from '../ids';
import { identityFor } from './referral-start';

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

/** A cursor as this API issues them: a row's creation time and id. Anything else is not one. */
const cursorSchema = z.strictObject({ createdAt: z.iso.datetime({ offset: true }), id: uuid });

export function decodeCursor(value: string): Cursor | undefined {
  try {
    const parsed = cursorSchema.safeParse(JSON.parse(Buffer.from(value, 'base64url').toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    // not JSON: not a cursor we issued
    return undefined;
  }
}

export type ReferralQuery = Omit<ReferralFilters, 'cursor'> & { cursor?: string };

/** What a referral's first click and the messages after it make of it, by the journey's own rules. */
function journeyInIntake(taken: TakenMessageRow[]) {
  const click = taken.find((row): row is TakenMessageRow & { kind: 'click' } => row.kind === 'click');
  if (!click) return undefined;
  const identity = identityFor(click, click.visitor_hash, false);
  const messages = taken.map((row): JourneyMessage => (row.kind === 'click' ? { type: 'click', click: row.message } : { type: 'step', step: row.message, flagReason: null }));
  const { referral, timeline } = journeyOfMessages(newReferral(identity, click.message.occurredAt), messages, settingsOf(click), new Date().toISOString());
  return { ...referralSummary(referral, click.received_at.toISOString()), timeline: timeline.map((entry) => ({ ...entry, detail: entry.detail ?? {} })) };
}

/**
 * Coordinators', admins' and mentors' reads. Each runs under the caller's organisation's row-level scope; another
 * organisation's ids answer 404 before the access table (`authorise`) is asked.
 */
export function createReadService(deps: { pool: Pool }) {
  const scoped = <T>(caller: Caller, work: (client: PoolClient) => Promise<T>) => withOrgScope(deps.pool, caller.orgId, work);

  async function readableMentor(client: PoolClient, caller: Caller, mentorId: string) {
    if (!(await isMember(client, mentorId, caller.orgId))) throw new NotFoundError('mentor');
    authorise(caller, 'readMentor', mentorId);
  }

  async function page(client: PoolClient, caller: Caller, query: ReferralQuery) {
    const { next, items } = await listReferrals(client, caller.orgId, { ...query, cursor: query.cursor ? decodeCursor(query.cursor) : undefined });
    return { items, nextCursor: next ? encodeCursor(next) : null };
  }

  return {
    /** A mentor the caller may read: unknown or of another organisation is 404, another mentor for a mentor 403. */
    authoriseMentor: (caller: Caller, mentorId: string) => scoped(caller, (client) => readableMentor(client, caller, mentorId)),

    listReferrals: (caller: Caller, query: ReferralQuery) =>
      scoped(caller, async (client) => {
        const scope = authorise(caller, 'listReferrals');
        if (scope === 'own' && query.mentorId && query.mentorId !== caller.userId) await readableMentor(client, caller, query.mentorId);
        return page(client, caller, scope === 'own' ? { ...query, mentorId: caller.userId } : query);
      }),

    mentorReferrals: (caller: Caller, mentorId: string, query: Omit<ReferralQuery, 'mentorId'>) =>
      scoped(caller, async (client) => {
        await readableMentor(client, caller, mentorId);
        return page(client, caller, { ...query, mentorId });
      }),

    /** A referral with its timeline: as Postgres holds it, or, until its workflow writes it, as its taken messages make it. */
    referral: (caller: Caller, referralId: string) =>
      scoped(caller, async (client) => {
        const detail = (await referralDetail(client, caller.orgId, referralId)) ?? journeyInIntake(await takenMessages(client, caller.orgId, referralId));
        if (!detail) throw new NotFoundError('referral');
        authorise(caller, 'readReferral', detail.mentorId);
        return detail;
      }),

    mentorStats: (caller: Caller, mentorId: string) =>
      scoped(caller, async (client) => {
        await readableMentor(client, caller, mentorId);
        return mentorStats(client, mentorId);
      }),

    mentorTrend: (caller: Caller, mentorId: string, query: DashboardQuery) =>
      scoped(caller, async (client) => {
        await readableMentor(client, caller, mentorId);
        return mentorTrend(client, caller.orgId, mentorId, query);
      }),

    mentorRecruits: (caller: Caller, mentorId: string) =>
      scoped(caller, async (client) => {
        await readableMentor(client, caller, mentorId);
        return { mentorId, recruits: await mentorRecruits(client, mentorId) };
      }),

    mentorBadges: (caller: Caller, mentorId: string) =>
      scoped(caller, async (client) => {
        await readableMentor(client, caller, mentorId);
        return { mentorId, badges: await mentorBadges(client, mentorId) };
      }),

    me: (caller: Caller) => scoped(caller, async (client) => ({ userId: caller.userId, orgId: caller.orgId, role: caller.role, ...(await whoAmI(client, caller.userId, caller.orgId)) })),

    coordinatorAggregate: (caller: Caller, coordinatorId: string) =>
      scoped(caller, async (client) => {
        if (!(await isMember(client, coordinatorId, caller.orgId))) throw new NotFoundError('coordinator');
        authorise(caller, 'readCoordinator', coordinatorId);
        return { coordinatorId, mentors: await coordinatorAggregate(client, coordinatorId) };
      }),

    dashboard: (caller: Caller, orgId: string, query: DashboardQuery) =>
      scoped(caller, async (client) => {
        if (orgId !== caller.orgId) throw new NotFoundError('organisation');
        authorise(caller, 'readDashboard');
        return recruitmentDashboard(client, orgId, query);
      }),

    platformTotals(caller: Caller) {
      authorise(caller, 'readPlatformTotals');
      return platformTotals(deps.pool);
    },
  };
}

export type ReadService = ReturnType<typeof createReadService>;
