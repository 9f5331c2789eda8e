import path from 'node:path';
import express, { Router, type CookieOptions, type Request, type Response } from 'express';
import { z } from 'zod';
import { DEMO_ADMIN, DEMO_SIGN_IN_PATH } from '../../domain/demo';
import { AppError } from '../../errors';
import { SESSION_COOKIE, type Authenticate } from '../auth';
import { CALLBACK_PATH, pendingSignIn, SignInFailedError, type OidcSignIn } from '../oidc';
import { answerPage, OWN_SCRIPTS_POLICY } from '../pages';

const ASSETS = path.resolve(__dirname, '../../../public/dashboard');
// The package exports no path to its browser build; it sits beside the package's main file.
const CHART_LIBRARY_DIR = path.dirname(require.resolve('chart.js'));

export const sessionBody = z.strictObject({ token: z.string().min(1).max(8192) });


const SIGN_IN_PATH = '/dashboard/sign-in';
const PENDING_SIGN_IN_COOKIE = 'dashboard_sign_in';
const PENDING_SIGN_IN_MS = 10 * 60_000;
const PORTAL_SIGN_IN = "<p>Open the dashboard from your organisation's portal to sign in.</p>";

const SHELL = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<link rel="icon" href="data:,">
<title>Recruitment dashboard</title>
<link rel="stylesheet" href="/dashboard/assets/dashboard.css">
<script src="/dashboard/assets/vendor/chart.umd.min.js" defer></script>
<script src="/dashboard/assets/dashboard.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to the figures</a>
<header>
  <h1 id="title">Recruitment dashboard</h1>
  <p id="who" class="who"></p>
  <form id="sign-out" method="post" action="/dashboard/sign-out" hidden><button type="submit">Sign out</button></form>
</header>
<main id="main" tabindex="-1">
  <p id="status" role="status" aria-live="polite">Loading…</p>
  <section id="sign-in" hidden aria-labelledby="sign-in-title">
    <h2 id="sign-in-title">Sign in</h2>
    <!--sign-in-->
  </section>
  <div id="view"></div>
</main>
<noscript><p>The dashboard needs JavaScript; its figures are also in the API (see <a href="/docs">/docs</a>).</p></noscript>
</body>
</html>
`;

export interface DashboardRouteDependencies {
  authenticate: Authenticate;
  /** The organisation's identity provider, when one is configured. */
  oidc?: OidcSignIn;
  /** Serve development's demo sign-in (never in production). */
  demoSignIn: boolean;
}

function parseJson(value: unknown): unknown {
  if (typeof value !== 'string') return undefined;
  try {
    return JSON.parse(value);
  } catch {
    // not what this service wrote
    return undefined;
  }
}

const sessionCookie = (req: Request, expires?: Date): CookieOptions => ({
  httpOnly: true,
  sameSite: 'lax',
  secure: req.secure,
  path: '/',
  ...(expires ? { expires } : {}),
});

/** The dashboard page, its assets, and signing in and out of its session. */
export function dashboardRoutes(deps: DashboardRouteDependencies): Router {
  const router = Router();

  // In development, whoever opens the page (not the link `npm start` printed) finds the demo's sign-in there too.
  const demo = deps.demoSignIn ? `\n<p>In development: <a href="${DEMO_SIGN_IN_PATH}">sign in as the demo organisation's admin</a> (<code>npm run demo</code> fills it).</p>` : '';
  const shell = SHELL.replace('<!--sign-in-->', `${deps.oidc ? `<p><a class="button" href="${SIGN_IN_PATH}">Sign in with your organisation</a></p>` : PORTAL_SIGN_IN}${demo}`);
  // Someone who types the service's address means the dashboard: the invite links have paths of their own.
  router.get('/', (_req, res) => res.redirect(302, '/dashboard'));
  router.get('/dashboard', (_req, res) => {
    res.setHeader('Content-Security-Policy', OWN_SCRIPTS_POLICY);
    res.setHeader('Cache-Control', 'no-store');
    res.type('html').send(shell);
  });

  router.use('/dashboard/assets/vendor', express.static(CHART_LIBRARY_DIR, { maxAge: '1h', index: false }));
  router.use('/dashboard/assets', express.static(ASSETS, { maxAge: '5m', index: false }));

  router.post('/dashboard/session', async (req, res) => {
    const { token } = sessionBody.parse(req.body);
    const session = await deps.authenticate.startSession(token);
    res.cookie(SESSION_COOKIE, session.sessionId, sessionCookie(req, session.expiresAt));
    res.setHeader('Cache-Control', 'no-store');
    res.status(201).json({ ...session.caller, expiresAt: session.expiresAt.toISOString() });
  });

  const oidc = deps.oidc;
  if (oidc) {
    const pendingCookie = (req: Request): CookieOptions => ({ httpOnly: true, sameSite: 'lax', secure: req.secure, path: CALLBACK_PATH, maxAge: PENDING_SIGN_IN_MS });
    // A person is answered with a page, whatever went wrong.
    const failed = (res: Response, error: unknown) => {
      const status = error instanceof AppError ? error.status : 500;
      const message = error instanceof SignInFailedError ? error.message : status === 503 ? "Your organisation's sign-in cannot be reached just now." : 'Something went wrong.';
      answerPage(res, status, 'Sign-in did not work', message, `<p><a class="button" href="${SIGN_IN_PATH}">Try again</a></p>`);
    };

    router.get(SIGN_IN_PATH, async (req, res) => {
      try {
        const { url, pending } = await oidc.start();
        res.cookie(PENDING_SIGN_IN_COOKIE, JSON.stringify(pending), pendingCookie(req));
        res.setHeader('Cache-Control', 'no-store');
        res.redirect(303, url);
      } catch (error) {
        failed(res, error);
      }
    });

    router.get(CALLBACK_PATH, async (req, res) => {
      try {
        const pending = pendingSignIn.safeParse(parseJson(req.cookies?.[PENDING_SIGN_IN_COOKIE]));
        if (!pending.success) throw new SignInFailedError('This sign-in was started too long ago, or in another browser: please start again');
        const identity = await oidc.finish(req.originalUrl, pending.data);
        const session = await deps.authenticate.openSession(identity);
        res.clearCookie(PENDING_SIGN_IN_COOKIE, pendingCookie(req));
        res.cookie(SESSION_COOKIE, session.sessionId, sessionCookie(req, session.expiresAt));
        res.redirect(303, '/dashboard');
      } catch (error) {
        failed(res, error);
      }
    });
  }

  if (deps.demoSignIn) {
    router.get(DEMO_SIGN_IN_PATH, async (req, res) => {
      const session = await deps.authenticate.openSession(DEMO_ADMIN);
      res.cookie(SESSION_COOKIE, session.sessionId, sessionCookie(req, session.expiresAt));
      res.redirect(303, '/dashboard');
    });
  }

  router.post('/dashboard/sign-out', async (req, res) => {
    await deps.authenticate.endSession(req);
    res.clearCookie(SESSION_COOKIE, sessionCookie(req));
    res.redirect(303, '/dashboard');
  });

  return router;
}
