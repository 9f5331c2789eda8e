import { Router } from 'express';
import { z } from 'zod';
import type { RewardService } from '../../services/reward-service';
import type { Authenticate } from '../auth';
import { durationSetting, reviewBody } from './admin';
import { oneLine } from './invitations';
import { mentorParams, orgParams } from './reads';
import { dayOrTime, fromBeforeTo } from '../times';
import { uuid } from '../../ids';

const amount = z.number().int({ error: "must be a whole number: points, or the currency's minor units (cents)" }).min(0).max(1_000_000_000);
const CURRENCIES = new Set(Intl.supportedValuesOf('currency'));

export const rewardRulesBody = z
  .strictObject({
    unit: z.union([
      z.literal('points'),
      z
        .string()
        .trim()
        .toUpperCase()
        .refine((code) => CURRENCIES.has(code), 'must be "points" or an ISO 4217 currency code such as "EUR"'),
    ]),
    perConfirmedRecruit: amount,
    milestoneBonuses: z
      .array(z.strictObject({ milestone: z.number().int().min(1).max(1_000_000), amount: amount.min(1) }))
      .max(20)
      .refine((list) => new Set(list.map((bonus) => bonus.milestone)).size === list.length, 'must not repeat a milestone')
      .default([]),
    campaigns: z
      .array(
        z
          // Plain dates are whole days: "to": "2026-12-31" includes the 31st.
          .strictObject({ campaign: oneLine(100), from: dayOrTime(false), to: dayOrTime(true), multiplier: z.number().min(0).max(100) })
          .refine(...fromBeforeTo),
      )
      .max(50)
      .default([]),
    welcomeReward: z.strictObject({ description: oneLine(200) }).optional(),
    holdingPeriod: durationSetting(0),
    approvalAbove: amount.optional(),
  })
  .transform(({ holdingPeriod, ...rules }) => ({ ...rules, holdingSeconds: holdingPeriod }));

export const mentorRewardsQuery = z
  .strictObject({ from: dayOrTime(false).optional(), to: dayOrTime(true).optional(), format: z.enum(['json', 'csv']).default('json') })
  .refine(...fromBeforeTo);

export const rewardEntryParams = z.strictObject({ id: uuid });

/** Reward rules, mentors' ledgers and statements, the programme's summary and approvals. */
export function rewardRoutes(deps: { authenticate: Authenticate; rewards: RewardService }): Router {
  const router = Router();

  router.get('/api/v1/orgs/:orgId/rewards', async (req, res) => {
    const caller = await deps.authenticate(req);
    res.json(await deps.rewards.rules(caller, orgParams.parse(req.params).orgId));
  });

  router.put('/api/v1/orgs/:orgId/rewards', async (req, res) => {
    const caller = await deps.authenticate(req);
    const { orgId } = orgParams.parse(req.params);
    res.json(await deps.rewards.setRules(caller, orgId, rewardRulesBody.parse(req.body)));
  });

  router.get('/api/v1/orgs/:orgId/rewards/summary', async (req, res) => {
    const caller = await deps.authenticate(req);
    res.json(await deps.rewards.summary(caller, orgParams.parse(req.params).orgId));
  });

  router.get('/api/v1/mentors/:mentorId/rewards', async (req, res) => {
    const caller = await deps.authenticate(req);
    const { mentorId } = mentorParams.parse(req.params);
    const { format, from, to } = mentorRewardsQuery.parse(req.query);
    const period = { from: from ? new Date(from) : undefined, to: to ? new Date(to) : undefined };
    if (format === 'json') return void res.json(await deps.rewards.mentorRewards(caller, mentorId, period));
    const csv = await deps.rewards.mentorStatement(caller, mentorId, period);
    res.attachment(`rewards-${mentorId}${from ? `-${from.slice(0, 10)}` : ''}${to ? `-${to.slice(0, 10)}` : ''}.csv`);
    res.type('text/csv').send(csv);
  });

  router.post('/api/v1/reward-entries/:id/review', async (req, res) => {
    const caller = await deps.authenticate(req);
    const { id } = rewardEntryParams.parse(req.params);
    const { decision } = reviewBody.parse(req.body);
    await deps.rewards.review(caller, id, decision);
    res.json({ entryId: id, decision });
  });

  return router;
}
