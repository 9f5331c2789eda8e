import { Router } from 'express';
import { z } from 'zod';
import { ATTRIBUTION_STATUSES, FUNNEL_STAGES } from '../../domain/funnel';
import type { CountsService } from '../../services/counts-service';
import { decodeCursor, type ReadService } from '../../services/read-service';
import { dashboardCsv } from '../../services/dashboard-csv';
import type { Authenticate } from '../auth';
import { uuid } from '../../ids';
import { DAY_MS, dayOrTime, fromBeforeTo } from '../times';

export const mentorParams = z.strictObject({ mentorId: uuid });
export const coordinatorParams = z.strictObject({ coordinatorId: uuid });
export const orgParams = z.strictObject({ orgId: uuid });
export const referralParams = z.strictObject({ id: uuid });

/** A list's `nextCursor`, given back for the next page. */
export const pageCursor = z
  .string()
  .max(512)
  .refine((value) => decodeCursor(value) !== undefined, 'is not a cursor this API issued');

const referralsQuery = z.strictObject({
  mentorId: uuid.optional(),
  /** An erasure request names the member: their referrals, within what the caller may see. */
  newMemberId: uuid.optional(),
  status: z.enum(ATTRIBUTION_STATUSES).optional(),
  stage: z.enum(FUNNEL_STAGES).optional(),
  from: dayOrTime(false).optional(),
  to: dayOrTime(true).optional(),
  cursor: pageCursor.optional(),
  limit: z.coerce.number().int().min(1).max(100).default(25),
});

export const listReferralsQuery = referralsQuery.refine(...fromBeforeTo);
export const mentorReferralsQuery = referralsQuery.omit({ mentorId: true }).refine(...fromBeforeTo);

const MAX_DASHBOARD_PERIODS = 400;
const PERIOD_MS = { day: 86_400_000, week: 7 * 86_400_000, month: 28 * 86_400_000 } as const;

const DEFAULT_DASHBOARD_DAYS = 30;
/** A period of whole days (UTC): `from` and `to` optional, by default the 30 days ending with today. */
const period = z.strictObject({
  from: dayOrTime(false).optional(),
  to: dayOrTime(true).optional(),
  granularity: z.enum(['day', 'week', 'month']).default('day'),
});

function withDefaultPeriod<T extends z.output<typeof period>>(query: T) {
  const to = query.to ?? new Date(Math.ceil((Date.now() + 1) / DAY_MS) * DAY_MS).toISOString();
  return { ...query, to, from: query.from ?? new Date(Date.parse(to) - DEFAULT_DASHBOARD_DAYS * DAY_MS).toISOString() };
}

type Period = { from: string; to: string; granularity: keyof typeof PERIOD_MS };
const periodChecked = <T extends Period>(schema: z.ZodType<T, unknown>) =>
  schema
    .refine(...fromBeforeTo)
    .refine((query) => (Date.parse(query.to) - Date.parse(query.from)) / PERIOD_MS[query.granularity] <= MAX_DASHBOARD_PERIODS, {
      message: `at most ${MAX_DASHBOARD_PERIODS} periods per request`,
      path: ['granularity'],
    });

export const dashboardQuery = periodChecked(period.extend({ format: z.enum(['json', 'csv']).default('json') }).transform(withDefaultPeriod));
export const mentorTrendQuery = periodChecked(period.transform(withDefaultPeriod));

export interface ReadRouteDependencies {
  authenticate: Authenticate;
  counts: CountsService;
  reads: ReadService;
}

/** Coordinators', admins' and mentors' reads; every query is scoped to the caller's organisation. */
export function readRoutes(deps: ReadRouteDependencies): Router {
  const router = Router();

  router.get('/api/v1/referral-attributions', async (req, res) => {
    const caller = await deps.authenticate(req);
    res.json(await deps.reads.listReferrals(caller, listReferralsQuery.parse(req.query)));
  });

  router.get('/api/v1/referral-attributions/mentor/:mentorId/counts', async (req, res) => {
    const caller = await deps.authenticate(req);
    const { mentorId } = mentorParams.parse(req.params);
    await deps.reads.authoriseMentor(caller, mentorId);
    res.setHeader('Cache-Control', 'private, max-age=60');
    res.json(await deps.counts.countsFor(caller.orgId, mentorId));
  });

  router.get('/api/v1/referral-attributions/mentor/:mentorId', async (req, res) => {
    const caller = await deps.authenticate(req);
    const { mentorId } = mentorParams.parse(req.params);
    res.json(await deps.reads.mentorReferrals(caller, mentorId, mentorReferralsQuery.parse(req.query)));
  });

  router.get('/api/v1/referral-attributions/:id', async (req, res) => {
    const caller = await deps.authenticate(req);
    const { id } = referralParams.parse(req.params);
    res.json(await deps.reads.referral(caller, id));
  });

  router.get('/api/v1/mentors/:mentorId/stats', async (req, res) => {
    const caller = await deps.authenticate(req);
    const { mentorId } = mentorParams.parse(req.params);
    res.json(await deps.reads.mentorStats(caller, mentorId));
  });

  router.get('/api/v1/mentors/:mentorId/trend', async (req, res) => {
    const caller = await deps.authenticate(req);
    const { mentorId } = mentorParams.parse(req.params);
    res.json(await deps.reads.mentorTrend(caller, mentorId, mentorTrendQuery.parse(req.query)));
  });

  router.get('/api/v1/mentors/:mentorId/recruits', async (req, res) => {
    const caller = await deps.authenticate(req);
    const { mentorId } = mentorParams.parse(req.params);
    res.json(await deps.reads.mentorRecruits(caller, mentorId));
  });

  router.get('/api/v1/mentors/:mentorId/badges', async (req, res) => {
    const caller = await deps.authenticate(req);
    const { mentorId } = mentorParams.parse(req.params);
    res.json(await deps.reads.mentorBadges(caller, mentorId));
  });

  router.get('/api/v1/me', async (req, res) => {
    res.json(await deps.reads.me(await deps.authenticate(req)));
  });

  router.get('/api/v1/coordinators/:coordinatorId/aggregate', async (req, res) => {
    const caller = await deps.authenticate(req);
    const { coordinatorId } = coordinatorParams.parse(req.params);
    res.json(await deps.reads.coordinatorAggregate(caller, coordinatorId));
  });

  router.get('/api/v1/orgs/:orgId/recruitment-dashboard', async (req, res) => {
    const caller = await deps.authenticate(req);
    const { orgId } = orgParams.parse(req.params);
    const { format, ...query } = dashboardQuery.parse(req.query);
    const dashboard = await deps.reads.dashboard(caller, orgId, query);
    if (format === 'json') return void res.json(dashboard);
    res.attachment(`recruitment-${query.from.slice(0, 10)}-${query.to.slice(0, 10)}.csv`);
    res.type('text/csv').send(dashboardCsv(dashboard));
  });

  router.get('/api/v1/platform/totals', async (req, res) => {
    res.json(await deps.reads.platformTotals(await deps.authenticate(req)));
  });

  return router;
}
