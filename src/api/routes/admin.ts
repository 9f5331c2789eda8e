import { Router } from 'express';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Pool } from 'pg';
import { z } from 'zod';
import { withTransaction } from '../../db/transaction';
import { durationToSeconds } from '../../domain/durations';
import { AppError, ForbiddenError, NotFoundError } from '../../errors';
import { authoriseOrgAdmin } from '../../services/read-model';
import type { ReferralService } from '../../services/referral-service';
import type { Authenticate } from '../auth';
import { coordinatorParams, orgParams, referralParams } from './reads';

const MAX_WINDOW_SECONDS = 366 * 24 * 3600;

const window = (minimum: number) =>
  z
    .union([z.number(), z.string().max(32)])
    .transform((value, ctx) => {
      const seconds = durationToSeconds(value);
      if (seconds === undefined || seconds < minimum || seconds > MAX_WINDOW_SECONDS) {
        ctx.addIssue({
          code: 'custom',
          message: `must be whole seconds or an ISO 8601 duration such as "P30D", from ${minimum} s to 366 days`,
        });
        return z.NEVER;
      }
      return seconds;
    });

export const orgSettingsBody = z
  .strictObject({
    name: z.string().trim().min(1).max(200).optional(),
    attributionWindow: window(1).optional(),
    confirmationWindow: window(1).optional(),
    dedupeWindow: window(0).optional(),
    badgeMilestones: z
      .array(z.number().int().min(1).max(1_000_000))
      .min(1)
      .max(20)
      .refine((list) => list.every((value, index) => index === 0 || value > list[index - 1]), 'must be strictly ascending')
      .optional(),
  })
  .refine((body) => Object.keys(body).length > 0, 'give at least one setting');

export const coordinatorMentorsBody = z.strictObject({
  mentorIds: z.array(z.uuid()).max(1000).refine((ids) => new Set(ids).size === ids.length, 'must not repeat an id'),
});

export interface AdminRouteDependencies {
  pool: Pool;
  temporal: Client;
  authenticate: Authenticate;
  logger: Logger;
  service: ReferralService;
}

export const reviewBody = z.strictObject({ decision: z.enum(['approve', 'reject']) });

/** Organisation admins' writes: settings, coordinator assignments, erasure of a referral. */
export function adminRoutes(deps: AdminRouteDependencies): Router {
  const router = Router();

  router.put('/api/v1/orgs/:orgId/settings', async (req, res) => {
    const caller = await deps.authenticate(req);
    const { orgId } = orgParams.parse(req.params);
    const body = orgSettingsBody.parse(req.body);
    authoriseOrgAdmin(caller, orgId);
    const updated = await deps.pool.query(
      `UPDATE organisations SET
         attribution_window_seconds = COALESCE($2, attribution_window_seconds),
         confirmation_window_seconds = COALESCE($3, confirmation_window_seconds),
         dedupe_window_seconds = COALESCE($4, dedupe_window_seconds),
         badge_milestones = COALESCE($5, badge_milestones),
         name = COALESCE($6, name)
       WHERE id = $1
       RETURNING name, attribution_window_seconds, confirmation_window_seconds, dedupe_window_seconds, badge_milestones`,
      [orgId, body.attributionWindow ?? null, body.confirmationWindow ?? null, body.dedupeWindow ?? null, body.badgeMilestones ?? null, body.name ?? null],
    );
    const row = updated.rows[0];
    res.json({
      orgId,
      name: row.name,
      attributionWindowSeconds: row.attribution_window_seconds,
      confirmationWindowSeconds: row.confirmation_window_seconds,
      dedupeWindowSeconds: row.dedupe_window_seconds,
      badgeMilestones: row.badge_milestones,
    });
  });

  router.put('/api/v1/coordinators/:coordinatorId/mentors', async (req, res) => {
    const caller = await deps.authenticate(req);
    const { coordinatorId } = coordinatorParams.parse(req.params);
    const { mentorIds } = coordinatorMentorsBody.parse(req.body);
    authoriseOrgAdmin(caller, caller.orgId);
    await withTransaction(deps.pool, async (client) => {
      const coordinator = await client.query("SELECT 1 FROM users WHERE id = $1 AND org_id = $2 AND role = 'coordinator'", [
        coordinatorId,
        caller.orgId,
      ]);
      if (coordinator.rowCount === 0) throw new NotFoundError('coordinator');
      const known = await client.query('SELECT id FROM users WHERE id = ANY($1::uuid[]) AND org_id = $2', [mentorIds, caller.orgId]);
      const knownIds = new Set(known.rows.map((row) => row.id as string));
      const unknown = mentorIds.filter((id) => !knownIds.has(id));
      if (unknown.length > 0) throw new AppError(422, 'unknown_mentors', 'Some mentors are not known in this organisation', { mentorIds: unknown });
      await client.query('DELETE FROM coordinator_assignments WHERE coordinator_id = $1', [coordinatorId]);
      await client.query(
        `INSERT INTO coordinator_assignments (coordinator_id, mentor_id, org_id)
         SELECT $1, mentor_id, $3 FROM unnest($2::uuid[]) AS mentor_id`,
        [coordinatorId, mentorIds, caller.orgId],
      );
    });
    res.json({ coordinatorId, mentorIds });
  });

  router.post('/api/v1/referral-attributions/:id/review', async (req, res) => {
    const caller = await deps.authenticate(req);
    const { id } = referralParams.parse(req.params);
    const { decision } = reviewBody.parse(req.body);
    const found = await deps.pool.query('SELECT 1 FROM referrals WHERE id = $1 AND org_id = $2', [id, caller.orgId]);
    if (found.rowCount === 0) throw new NotFoundError('referral');
    if (caller.role !== 'coordinator' && caller.role !== 'org_admin') throw new ForbiddenError('Coordinators and organisation admins review flagged referrals');
    await deps.service.review(id, { decision, reviewerId: caller.userId });
    res.status(202).json({ referralId: id, decision });
  });

  router.delete('/api/v1/referral-attributions/:id', async (req, res) => {
    const caller = await deps.authenticate(req);
    const { id } = referralParams.parse(req.params);
    const found = await deps.pool.query('SELECT workflow_id FROM referrals WHERE id = $1 AND org_id = $2', [id, caller.orgId]);
    if (!found.rows[0]) throw new NotFoundError('referral');
    authoriseOrgAdmin(caller, caller.orgId);
    // The journey stops first, so it cannot write the erased data back.
    await deps.temporal.workflow
      .getHandle(found.rows[0].workflow_id)
      .terminate('referral record erased by an organisation admin')
      .catch(() => undefined);
    await withTransaction(deps.pool, async (client) => {
      await client.query(
        `UPDATE click_events SET visitor_hash = NULL, ip_hash = NULL, user_agent = NULL, device_metadata =
           CASE WHEN device_metadata ? 'shareChannel' THEN jsonb_build_object('shareChannel', device_metadata->'shareChannel') ELSE '{}'::jsonb END
         WHERE referral_id = $1`,
        [id],
      );
      // Stage, status and times stay, so every count stays what it was.
      await client.query('UPDATE referrals SET visitor_hash = NULL, new_member_id = NULL, updated_at = now() WHERE id = $1', [id]);
      await client.query('DELETE FROM referral_member_links WHERE referral_id = $1', [id]);
      await client.query(
        `INSERT INTO referral_events (referral_id, org_id, type, stage, status, detail, idempotency_key, occurred_at)
         SELECT id, org_id, 'erased', stage, status, jsonb_build_object('by', $2::text), 'erased:' || id, now() FROM referrals WHERE id = $1
         ON CONFLICT (idempotency_key) DO NOTHING`,
        [id, caller.userId],
      );
    });
    deps.logger.info({ referralId: id, erasedBy: caller.userId }, 'referral personal data erased');
    res.status(204).end();
  });

  return router;
}
