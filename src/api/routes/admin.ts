import { Router } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';
import { durationToSeconds } from '../../domain/durations';
import type { AdminService } from '../../services/admin-service';
import type { Authenticate } from '../auth';
import type { Caller } from '../../domain/access';
import { coordinatorParams, orgParams, referralParams } from './reads';
import { uuid } from '../../ids';

const MAX_WINDOW_SECONDS = 366 * 24 * 3600;

export const durationSetting = (minimum: number) =>
  z
    .union([z.number(), z.string().max(32)])
    .transform((value, ctx) => {
      const seconds = durationToSeconds(value);
      if (seconds === undefined || seconds < minimum || seconds > MAX_WINDOW_SECONDS) {
        ctx.addIssue({
          code: 'custom',
          message: `must be whole seconds or an ISO 8601 duration of weeks, days, hours, minutes or seconds such as "P30D" (months and years vary in length), from ${minimum} s to 366 days`,
        });
        return z.NEVER;
      }
      return seconds;
    });

export const orgSettingsBody = z
  .strictObject({
    name: z.string().trim().min(1).max(200).optional(),
    attributionWindow: durationSetting(1).optional(),
    confirmationWindow: durationSetting(1).optional(),
    dedupeWindow: durationSetting(0).optional(),
    badgeMilestones: z
      .array(z.number().int().min(1).max(1_000_000))
      .min(1)
      .max(20)
      .refine((list) => list.every((value, index) => index === 0 || value > list[index - 1]), 'must be strictly ascending')
      .optional(),
  })
  .refine((body) => Object.keys(body).length > 0, 'give at least one setting');

export const coordinatorMentorsBody = z.strictObject({
  mentorIds: z.array(uuid).max(1000).refine((ids) => new Set(ids).size === ids.length, 'must not repeat an id'),
});

export interface AdminRouteDependencies {
  authenticate: Authenticate;
  logger: Logger;
  admin: AdminService;
}

export const reviewBody = z.strictObject({ decision: z.enum(['approve', 'reject']) });

/** Organisation admins' writes (settings, coordinator assignments, reviews, erasure of a referral) and the settings' read. */
export function adminRoutes(deps: AdminRouteDependencies): Router {
  const router = Router();

  /** A read of the caller's organisation: its settings, its mentors, its coordinators. */
  const orgRead = (route: string, read: (caller: Caller, orgId: string) => Promise<unknown>) =>
    router.get(route, async (req, res) => {
      const caller = await deps.authenticate(req);
      const { orgId } = orgParams.parse(req.params);
      res.json(await read(caller, orgId));
    });

  orgRead('/api/v1/orgs/:orgId/settings', deps.admin.settings);

  router.put('/api/v1/orgs/:orgId/settings', async (req, res) => {
    const caller = await deps.authenticate(req);
    const { orgId } = orgParams.parse(req.params);
    const body = orgSettingsBody.parse(req.body);
    res.json(await deps.admin.updateSettings(caller, orgId, body));
  });

  orgRead('/api/v1/orgs/:orgId/mentors', deps.admin.mentors);
  orgRead('/api/v1/orgs/:orgId/coordinators', deps.admin.coordinators);

  router.put('/api/v1/coordinators/:coordinatorId/mentors', async (req, res) => {
    const caller = await deps.authenticate(req);
    const { coordinatorId } = coordinatorParams.parse(req.params);
    const { mentorIds } = coordinatorMentorsBody.parse(req.body);
    res.json(await deps.admin.assignMentors(caller, coordinatorId, mentorIds));
  });

  router.post('/api/v1/referral-attributions/:id/review', async (req, res) => {
    const caller = await deps.authenticate(req);
    const { id } = referralParams.parse(req.params);
    const { decision } = reviewBody.parse(req.body);
    await deps.admin.review(caller, id, decision);
    res.status(202).json({ referralId: id, decision });
  });

  router.delete('/api/v1/referral-attributions/:id', async (req, res) => {
    const caller = await deps.authenticate(req);
    const { id } = referralParams.parse(req.params);
    await deps.admin.erase(caller, id);
    deps.logger.info({ referralId: id, erasedBy: caller.userId }, 'referral personal data erased');
    res.status(204).end();
  });

  return router;
}
