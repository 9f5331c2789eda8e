import path from 'node:path';
import express, { Router, type CookieOptions, type Request } from 'express';
import { z } from 'zod';
import { DEMO_ADMIN, DEMO_SIGN_IN_PATH } from '../../domain/demo';
import { SESSION_COOKIE, type Authenticate } from '../auth';

const ASSETS = path.resolve(__dirname, '../../../public/dashboard');
// The package exports no path to its browser build; it sits beside the package's main file.
const CHART_LIBRARY_DIR = path.dirname(require.resolve('chart.js'));

export const sessionBody = z.strictObject({ token: z.string().min(1).max(8192) });

/** The page's own scripts and styles only: no inline script, nothing from elsewhere, never framed. */
const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "form-action 'self'",
  "base-uri 'none'",
  "object-src 'none'",
].join('; ');

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
    <p>Open the dashboard from your organisation's portal to sign in.</p>
  </section>
  <div id="view"></div>
</main>
<noscript><p>The dashboard needs JavaScript; its figures are also in the API (see <a href="/docs">/docs</a>).</p></noscript>
</body>
</html>
`;

export interface DashboardRouteDependencies {
  authenticate: Authenticate;
  /** Serve development's demo sign-in (never in production). */
  demoSignIn: boolean;
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

  router.get('/dashboard', (_req, res) => {
    res.setHeader('Content-Security-Policy', DASHBOARD_CSP);
    res.setHeader('Cache-Control', 'no-store');
    res.type('html').send(SHELL);
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
