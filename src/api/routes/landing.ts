import { randomUUID } from 'node:crypto';
import { Router, type ErrorRequestHandler, type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import { AppError, EndedLinkError } from '../../errors';
import type { ReferralService } from '../../services/referral-service';
import type { ReferralTokens } from '../referral-token';
import { knownError, retryAfterSeconds } from '../errors';
import { answerPage, escapeHtml, page } from '../pages';
import { shareChannel } from './codes';
import { uuid } from '../../ids';

const VISITOR_COOKIE = 'rv';
const VISITOR_COOKIE_MAX_AGE_MS = 365 * 24 * 3600 * 1000;
const codePattern = z.string().regex(/^[A-Za-z0-9_-]{6,64}$/);
export const landingParams = z.strictObject({ code: codePattern });

export interface LandingOptions {
  service: ReferralService;
  tokens: ReferralTokens;
  /** What stands in front of a click: the in-flight limit. */
  clickGate: RequestHandler;
  appDeepLink: string;
  appStoreUrl: string;
  playStoreUrl: string;
}

function visitorIdOf(req: Request): string | undefined {
  const visitor = uuid.safeParse(req.cookies?.[VISITOR_COOKIE]);
  return visitor.success ? visitor.data : undefined;
}

/** The crawlers that fetch a shared link to draw its preview card (WhatsApp, iMessage, Facebook, Telegram and the like). */
const LINK_PREVIEW_AGENTS = /WhatsApp|facebookexternalhit|Facebot|Twitterbot|TelegramBot|Slackbot|Discordbot|LinkedInBot|SkypeUriPreview|Pinterestbot|redditbot|Embedly|vkShare|Viber|Signal|Applebot|bingbot|Googlebot/i;

/** What the invitation says: the mentor by first name only, the organisation, and what joining brings. */
function invitation(inviter: { mentorName: string | null; orgName: string | null; welcomeReward: string | null }) {
  const firstName = (inviter.mentorName ?? '').trim().split(/\s+/)[0] || 'A member';
  const organisation = inviter.orgName ?? 'our community';
  const welcome = inviter.welcomeReward ? `When you join: ${inviter.welcomeReward}` : undefined;
  return { title: `${firstName} invited you to ${organisation}`, organisation, welcome };
}

/** The preview card a messaging app or social network draws for the link. */
const openGraph = (title: string, organisation: string, welcome?: string) => `
<meta property="og:type" content="website">
<meta property="og:site_name" content="${escapeHtml(organisation)}">
<meta property="og:title" content="${escapeHtml(title)}">
<meta property="og:description" content="${escapeHtml(`Join ${organisation} in the app.${welcome ? ` ${welcome}` : ''}`)}">
<meta name="twitter:card" content="summary">`;

const NOT_FOUND = ['Invite link not found', 'This invite link does not exist. Ask the person who sent it for a new one.'] as const;

/** The invite link: records the click and welcomes the visitor on the mentor's behalf (first name only). */
export function landingRoutes(options: LandingOptions): Router {
  const router = Router();
  const storeList = `<ul>
<li><a href="${escapeHtml(options.appStoreUrl)}">Get it on the App Store</a></li>
<li><a href="${escapeHtml(options.playStoreUrl)}">Get it on Google Play</a></li>
</ul>`;
  // A link that cannot bring its invitation along still leaves the person a way in.
  const joinWithoutLink = `<p>You can also get the app and join without this link:</p>\n${storeList}`;
  const openItLater = `<p>You can also get the app now and open this link again later:</p>\n${storeList}`;
  const linkNotFound = (res: Response) => answerPage(res, 404, ...NOT_FOUND, joinWithoutLink);
  router.get(
    '/r/:code',
    options.clickGate,
    async (req: Request, res: Response) => {
      const code = codePattern.safeParse(req.params.code);
      if (!code.success) return linkNotFound(res);
      const channel = shareChannel.safeParse(req.query.ch);
      const invitedBy = uuid.safeParse(req.query.inv);
      // A messaging app fetching the link for its preview card is not a person clicking, nor is a link checker asking
      // for the headers only: they record nothing.
      if (req.method === 'HEAD' || LINK_PREVIEW_AGENTS.test(req.get('user-agent') ?? '')) {
        const inviter = await options.service.inviterOf(code.data);
        const { title, organisation, welcome } = invitation(inviter);
        res.setHeader('Cache-Control', 'public, max-age=300');
        return void res.type('html').send(page(title, `<h1>${escapeHtml(title)}</h1>`, openGraph(title, organisation, welcome)));
      }
      const visitorId = visitorIdOf(req) ?? randomUUID();
      const clicked = await options.service.recordClick({
        code: code.data,
        visitorId,
        ipAddress: req.ip,
        userAgent: req.get('user-agent'),
        metadata: channel.success ? { shareChannel: channel.data } : {},
        viaLanding: true,
        invitationId: invitedBy.success ? invitedBy.data : undefined,
      });
      res.cookie(VISITOR_COOKIE, visitorId, { httpOnly: true, sameSite: 'lax', secure: req.secure, maxAge: VISITOR_COOKIE_MAX_AGE_MS, path: '/r' });
      const token = await options.tokens.issue(clicked);
      const deepLink = new URL(options.appDeepLink);
      deepLink.searchParams.set('referralId', clicked.referralId);
      deepLink.searchParams.set('referralToken', token);
      const { title, organisation, welcome } = invitation(clicked.inviter);
      res.setHeader('Cache-Control', 'no-store');
      res.type('html').send(
        page(
          title,
          `<h1>${escapeHtml(title)}</h1>
<p>Join ${escapeHtml(organisation)} in the app. The button opens it and brings your invitation along.</p>
${welcome ? `<p class="welcome">${escapeHtml(welcome)}</p>\n` : ''}<a class="button" href="${escapeHtml(deepLink.toString())}">Open the app and join</a>
<p>Don't have the app yet?</p>
${storeList}`,
          openGraph(title, organisation, welcome),
        ),
      );
    },
  );
  // Any other address under /r is an invite link cut short or run on.
  router.use('/r', (_req, res) => linkNotFound(res));
  /** A person who tapped an invite link gets a page whatever went wrong, never JSON. */
  const pageForError: ErrorRequestHandler = (error, req, res, _next) => {
    const known = knownError(error);
    const status = known?.status ?? 503;
    if (status === 410) {
      const organisation = error instanceof EndedLinkError && error.orgName ? ` to ${error.orgName}` : '';
      return answerPage(res, 410, 'This invite link has ended', `This invite link${organisation} is no longer active. Ask the person who sent it for a new one.`, joinWithoutLink);
    }
    // An unknown code, or a link whose code cannot be read (broken percent-encoding): no code, either way.
    if (status < 500 && status !== 429) return linkNotFound(res);
    if (!(error instanceof AppError)) req.log.warn({ err: error }, 'invite page could not record the click');
    res.setHeader('Retry-After', String(retryAfterSeconds(error instanceof AppError ? error : undefined) ?? 30));
    answerPage(res, status === 429 ? 429 : 503, 'We could not open your invitation just now', 'Please try the link again in a minute.', openItLater);
  };
  router.use('/r', pageForError);
  return router;
}
