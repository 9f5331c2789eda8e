import { Router, type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import { AppError, NotFoundError } from '../../errors';
import { FUNNEL_STEPS } from '../../domain/funnel';
import type { ReferralService, StepReferral } from '../../services/referral-service';
import { bearerToken, type Authenticate } from '../auth';
import type { ReferralTokens } from '../referral-token';
import { verifySignature } from '../webhook-signature';
import { uuid } from '../../ids';
import { dateTime, deviceTime } from '../times';

const code = z.string().regex(/^[A-Za-z0-9_-]{6,64}$/, 'must be 6-64 url-safe characters');

export const recordClickBody = z.strictObject({
  code,
  visitorId: z.string().min(1).max(128).optional(),
  metadata: z
    .object({
      platform: z.string().max(32).optional(),
      // As the app names it, in one case, as the invite link's `ch` is: `WhatsApp` and `whatsapp` are one channel.
      shareChannel: z.string().trim().toLowerCase().max(32).optional(),
    })
    .catchall(z.union([z.string().max(256), z.number(), z.boolean()]))
    .refine((metadata) => Object.keys(metadata).length <= 20, 'at most 20 metadata fields')
    .default({}),
});

export const funnelEventBody = z.strictObject({
  type: z.enum(FUNNEL_STEPS),
  occurredAt: deviceTime.optional(),
  idempotencyKey: z.string().min(1).max(128),
  newMemberId: uuid.optional(),
});

// The membership system's bodies take fields of its own without refusal (a tolerant reader): a refused delivery is a
// confirmation lost until someone mends the integration.
export const membershipWebhookBody = z.object({
  event: z.enum(['member.registered', 'member.cancelled']),
  referralCode: code,
  newMemberId: uuid,
  occurredAt: dateTime,
  deliveryId: z.string().min(1).max(128),
});

export const confirmReferralBody = z.object({
  newMemberId: uuid,
  occurredAt: dateTime.optional(),
});

const idParams = z.object({ id: uuid });

export interface ReferralRouteDependencies {
  service: ReferralService;
  tokens: ReferralTokens;
  webhookSecret: string;
  authenticate: Authenticate;
  clickGate: RequestHandler;
  nowSeconds?: () => number;
}

/** The journey's write side: clicks from the app, funnel steps, and the membership system's messages. */
export function referralRoutes(deps: ReferralRouteDependencies): Router {
  const router = Router();
  const nowSeconds = deps.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  const signed = (req: Request) =>
    verifySignature(deps.webhookSecret, req.get('x-signature'), (req as Request & { rawBody?: string }).rawBody ?? '', nowSeconds());

  router.post('/api/v1/referral-attributions', deps.clickGate, async (req: Request, res: Response) => {
    const body = recordClickBody.parse(req.body);
    // The app may send the signed-in member's token: a mentor clicking their own link is a self-referral.
    const click = await deps.service.recordClick({
      code: body.code,
      visitorId: body.visitorId,
      member: await deps.authenticate.identify(req),
      ipAddress: req.ip,
      userAgent: req.get('user-agent'),
      metadata: body.metadata,
    });
    const referralToken = await deps.tokens.issue(click);
    res.status(201).json({ referralId: click.referralId, referralToken, status: 'recorded' });
  });

  /** The referral a step is for: the one its referral token names, or, with the member's own token, theirs. */
  async function stepReferral(req: Request, id: string): Promise<StepReferral> {
    const claims = await deps.tokens.read(bearerToken(req));
    if (claims) {
      // Another referral's token reveals nothing about this id: the same 404 as an unknown one.
      if (claims.referralId !== id) throw new NotFoundError('referral');
      return claims;
    }
    const member = await deps.authenticate.identify(req);
    if (!member) throw new AppError(401, 'unauthorized', "A valid referral token, or the member's own token, is required");
    return deps.service.memberReferral(member, id);
  }

  router.post('/api/v1/referrals/:id/events', async (req, res) => {
    const { id } = idParams.parse(req.params);
    const claims = await stepReferral(req, id);
    const body = funnelEventBody.parse(req.body);
    await deps.service.recordFunnelStep(claims, body);
    res.status(202).json({ referralId: id, accepted: body.type });
  });

  router.post('/api/v1/webhooks/membership', async (req, res) => {
    signed(req);
    const body = membershipWebhookBody.parse(req.body);
    const { status, answer } = await deps.service.handleMembershipDelivery(body);
    res.status(status).json(answer);
  });

  router.put('/api/v1/referral-attributions/:id', async (req, res) => {
    signed(req);
    const { id } = idParams.parse(req.params);
    const body = confirmReferralBody.parse(req.body);
    const record = await deps.service.confirmKnownReferral(id, { ...body, source: 'webhook' });
    res.json(record);
  });

  return router;
}
