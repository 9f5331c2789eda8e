import { randomUUID } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import type { Pool } from 'pg';
import { z } from 'zod';
import { AppError } from '../../errors';
import type { ReferralService } from '../../services/referral-service';
import type { ClickGate } from '../rate-limit';
import type { ReferralTokens } from '../referral-token';
import { shareChannel } from './codes';

const VISITOR_COOKIE = 'rv';
const VISITOR_COOKIE_MAX_AGE_MS = 365 * 24 * 3600 * 1000;
const codePattern = z.string().regex(/^[A-Za-z0-9_-]{6,64}$/);
export const landingParams = z.strictObject({ code: codePattern });

export interface LandingOptions {
  pool: Pool;
  service: ReferralService;
  tokens: ReferralTokens;
  clickGate: ClickGate;
  appDeepLink: string;
  appStoreUrl: string;
  playStoreUrl: string;
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char] ?? char);

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(title)}</title>
<style>
body{font-family:system-ui,sans-serif;font-size:1.125rem;line-height:1.6;max-width:32rem;margin:0 auto;padding:2rem 1rem;color:#111;background:#fff}
h1{font-size:1.75rem;line-height:1.3}
.button{display:block;text-align:center;background:#0b57d0;color:#fff;padding:1rem;border-radius:.5rem;text-decoration:none;font-weight:600;margin:1.5rem 0}
.button:focus{outline:3px solid #111;outline-offset:3px}
ul{padding-left:1.2rem}
</style>
</head>
<body><main>${body}</main></body>
</html>`;
}

function visitorIdOf(req: Request): string | undefined {
  const cookies = Object.fromEntries(
    (req.headers.cookie ?? '').split(';').map((pair) => {
      const [name, ...value] = pair.trim().split('=');
      return [name, value.join('=')];
    }),
  );
  const candidate = cookies[VISITOR_COOKIE];
  return candidate && z.uuid().safeParse(candidate).success ? candidate : undefined;
}

function answerPage(res: Response, status: number, title: string, message: string) {
  res.status(status).type('html').send(page(title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>`));
}

/** The invite link: records the click and welcomes the visitor on the mentor's behalf (first name only). */
export function landingRoutes(options: LandingOptions): Router {
  const router = Router();
  router.get(
    '/r/:code',
    options.clickGate((req) => req.params.code as string),
    async (req: Request, res: Response) => {
      const code = codePattern.safeParse(req.params.code);
      if (!code.success) return answerPage(res, 404, 'Invite link not found', 'This invite link does not exist. Ask the person who sent it for a new one.');
      const found = await options.pool.query(
        `SELECT c.default_channel, u.display_name, o.name AS org_name
         FROM referral_codes c JOIN users u ON u.id = c.mentor_id JOIN organisations o ON o.id = c.org_id
         WHERE c.code = $1`,
        [code.data],
      );
      const row = found.rows[0];
      if (!row) return answerPage(res, 404, 'Invite link not found', 'This invite link does not exist. Ask the person who sent it for a new one.');
      const channel = shareChannel.safeParse(req.query.ch);
      const visitorId = visitorIdOf(req) ?? randomUUID();
      let clicked;
      try {
        clicked = await options.service.recordClick({
          code: code.data,
          visitorId,
          ipAddress: req.ip,
          userAgent: req.get('user-agent'),
          metadata: { shareChannel: channel.success ? channel.data : (row.default_channel ?? 'link'), via: 'landing' },
        });
      } catch (error) {
        if (error instanceof AppError && error.status === 410) {
          return answerPage(res, 410, 'This invite link has ended', 'This invite link is no longer active. Ask the person who sent it for a new one.');
        }
        throw error;
      }
      res.cookie(VISITOR_COOKIE, visitorId, { httpOnly: true, sameSite: 'lax', secure: req.secure, maxAge: VISITOR_COOKIE_MAX_AGE_MS, path: '/r' });
      const token = await options.tokens.issue(clicked);
      const deepLink = new URL(options.appDeepLink);
      deepLink.searchParams.set('referralId', clicked.referralId);
      deepLink.searchParams.set('referralToken', token);
      const firstName = (row.display_name ?? '').trim().split(/\s+/)[0] || 'A member';
      const organisation = row.org_name ?? 'our community';
      const title = `${firstName} invited you to ${organisation}`;
      res.type('html').send(
        page(
          title,
          `<h1>${escapeHtml(title)}</h1>
<p>Join ${escapeHtml(organisation)} in the app. The button opens it and brings your invitation along.</p>
<a class="button" href="${escapeHtml(deepLink.toString())}">Open the app and join</a>
<p>Don't have the app yet?</p>
<ul>
<li><a href="${escapeHtml(options.appStoreUrl)}">Get it on the App Store</a></li>
<li><a href="${escapeHtml(options.playStoreUrl)}">Get it on Google Play</a></li>
</ul>`,
        ),
      );
    },
  );
  return router;
}
