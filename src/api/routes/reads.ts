import { Router, type Request } from 'express';
import type { Pool, PoolClient } from 'pg';
import { z } from 'zod';
import { withOrgScope } from '../../db/scoped';
import { ATTRIBUTION_STATUSES, FUNNEL_STAGES } from '../../domain/funnel';
import type { CountsService } from '../../services/counts-service';
import {
  authoriseCoordinator,
  authoriseMentor,
  authoriseOrgAdmin,
  coordinatorAggregate,
  decodeCursor,
  listReferrals,
  mentorRecruits,
  mentorStats,
  recruitmentDashboard,
  referralDetail,
} from '../../services/read-model';
import { ForbiddenError } from '../../errors';
import type { Authenticate, Caller } from '../auth';

const uuid = z.uuid();
const boundedTime = z.iso.datetime({ offset: true }).refine((value) => {
  const year = new Date(value).getUTCFullYear();
  return year >= 2000 && year <= 2100;
}, 'must be a date between the years 2000 and 2100');

export const mentorParams = z.strictObject({ mentorId: uuid });
export const coordinatorParams = z.strictObject({ coordinatorId: uuid });
export const orgParams = z.strictObject({ orgId: uuid });
export const referralParams = z.strictObject({ id: uuid });


export const listReferralsQuery = z.strictObject({
  mentorId: uuid.optional(),
  status: z.enum(ATTRIBUTION_STATUSES).optional(),
  stage: z.enum(FUNNEL_STAGES).optional(),
  from: boundedTime.optional(),
  to: boundedTime.optional(),
  cursor: z
    .string()
    .max(512)
    .refine((value) => decodeCursor(value) !== undefined, 'is not a cursor this API issued')
    .optional(),
  limit: z.coerce.number().int().min(1).max(100).default(25),
});

export const mentorReferralsQuery = listReferralsQuery.omit({ mentorId: true });

const MAX_DASHBOARD_PERIODS = 400;
const PERIOD_MS = { day: 86_400_000, week: 7 * 86_400_000, month: 28 * 86_400_000 } as const;

export const dashboardQuery = z
  .strictObject({
    from: boundedTime,
    to: boundedTime,
    granularity: z.enum(['day', 'week', 'month']).default('day'),
  })
  .refine((query) => Date.parse(query.from) < Date.parse(query.to), { message: 'from must be before to', path: ['from'] })
  .refine((query) => (Date.parse(query.to) - Date.parse(query.from)) / PERIOD_MS[query.granularity] <= MAX_DASHBOARD_PERIODS, {
    message: `at most ${MAX_DASHBOARD_PERIODS} periods per request`,
    path: ['granularity'],
  });

export interface ReadRouteDependencies {
  pool: Pool;
  authenticate: Authenticate;
  counts: CountsService;
}

/** Coordinators', admins' and mentors' reads; every query is scoped to the caller's organisation. */
export function readRoutes(deps: ReadRouteDependencies): Router {
  const router = Router();
  const scoped = async <T>(req: Request, work: (client: PoolClient, caller: Caller) => Promise<T>): Promise<T> => {
    const caller = await deps.authenticate(req);
    return withOrgScope(deps.pool, caller.orgId, (client) => work(client, caller));
  };
  const notForPlatformAdmin = (caller: Caller) => {
    if (caller.role === 'platform_admin') throw new ForbiddenError('Platform admins see cross-organisation totals only');
  };

  router.get('/api/v1/referral-attributions', async (req, res) => {
    res.json(
      await scoped(req, async (client, caller) => {
        const query = listReferralsQuery.parse(req.query);
        notForPlatformAdmin(caller);
        if (caller.role === 'peer_mentor') {
          if (query.mentorId && query.mentorId !== caller.userId) await authoriseMentor(client, caller, query.mentorId);
          return listReferrals(client, caller.orgId, { ...query, mentorId: caller.userId });
        }
        return listReferrals(client, caller.orgId, query);
      }),
    );
  });

  router.get('/api/v1/referral-attributions/mentor/:mentorId/counts', async (req, res) => {
    const caller = await deps.authenticate(req);
    const { mentorId } = mentorParams.parse(req.params);
    await withOrgScope(deps.pool, caller.orgId, (client) => authoriseMentor(client, caller, mentorId));
    res.setHeader('Cache-Control', 'private, max-age=60');
    res.json(await deps.counts.countsFor(caller.orgId, mentorId));
  });

  router.get('/api/v1/referral-attributions/mentor/:mentorId', async (req, res) => {
    res.json(
      await scoped(req, async (client, caller) => {
        const { mentorId } = mentorParams.parse(req.params);
        const query = mentorReferralsQuery.parse(req.query);
        await authoriseMentor(client, caller, mentorId);
        return listReferrals(client, caller.orgId, { ...query, mentorId });
      }),
    );
  });

  router.get('/api/v1/referral-attributions/:id', async (req, res) => {
    res.json(
      await scoped(req, async (client, caller) => {
        const { id } = referralParams.parse(req.params);
        return referralDetail(client, caller, id);
      }),
    );
  });

  router.get('/api/v1/mentors/:mentorId/stats', async (req, res) => {
    res.json(
      await scoped(req, async (client, caller) => {
        const { mentorId } = mentorParams.parse(req.params);
        await authoriseMentor(client, caller, mentorId);
        return mentorStats(client, mentorId);
      }),
    );
  });

  router.get('/api/v1/mentors/:mentorId/recruits', async (req, res) => {
    res.json(
      await scoped(req, async (client, caller) => {
        const { mentorId } = mentorParams.parse(req.params);
        await authoriseMentor(client, caller, mentorId);
        return { mentorId, recruits: await mentorRecruits(client, mentorId) };
      }),
    );
  });

  router.get('/api/v1/coordinators/:coordinatorId/aggregate', async (req, res) => {
    res.json(
      await scoped(req, async (client, caller) => {
        const { coordinatorId } = coordinatorParams.parse(req.params);
        await authoriseCoordinator(client, caller, coordinatorId);
        return { coordinatorId, mentors: await coordinatorAggregate(client, coordinatorId) };
      }),
    );
  });

  router.get('/api/v1/orgs/:orgId/recruitment-dashboard', async (req, res) => {
    res.json(
      await scoped(req, async (client, caller) => {
        const { orgId } = orgParams.parse(req.params);
        const query = dashboardQuery.parse(req.query);
        authoriseOrgAdmin(caller, orgId);
        return recruitmentDashboard(client, orgId, query);
      }),
    );
  });

  router.get('/api/v1/platform/totals', async (req, res) => {
    const caller = await deps.authenticate(req);
    if (caller.role !== 'platform_admin') throw new ForbiddenError('Only platform admins see cross-organisation totals');
    const totals = await deps.pool.query(
      `SELECT (SELECT count(*) FROM organisations) AS organisations,
         (SELECT count(*) FROM click_events WHERE NOT is_duplicate) AS total_clicks,
         (SELECT count(*) FROM referrals WHERE status = 'pending' AND account_created_at IS NOT NULL) AS pending,
         (SELECT count(*) FROM referrals WHERE status = 'confirmed') AS confirmed`,
    );
    const row = totals.rows[0];
    res.json({ organisations: row.organisations, totalClicks: row.total_clicks, pendingAttributions: row.pending, confirmedAttributions: row.confirmed });
  });

  return router;
}
