import { randomUUID } from 'node:crypto';
import cookieParser from 'cookie-parser';
import express from 'express';
import helmet from 'helmet';
import { pinoHttp } from 'pino-http';
import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import { loadConfig, type Config } from '../config';
import { withOrgScope } from '../db/scoped';
import { measureBacklogs, measureRequests } from '../metrics';
import { loggableUrl, type Logger } from '../logger';
import { createCodeService } from '../services/code-service';
import { createCountsService } from '../services/counts-service';
import { mentorCounts } from '../db/reads';
import { createAdminService } from '../services/admin-service';
import { backlogsOf } from '../services/backlogs';
import { createInvitationService } from '../services/invitation-service';
import { invitationTiming } from '../services/invitation-start';
import { createNotificationService } from '../services/notification-service';
import { createReadService } from '../services/read-service';
import { createRewardService } from '../services/reward-service';
import { saltedHash } from '../services/identifiers';
import { createReferralService, referralServiceSettings } from '../services/referral-service';
import { createAuthenticator } from './auth';
import { errorHandler, notFoundHandler } from './errors';
import { oidcFromConfig } from './oidc';
import { openApiRoutes } from './openapi';
import { inFlightLimit } from './load-shedding';
import { createReferralTokens } from './referral-token';
import { adminRoutes } from './routes/admin';
import { codeRoutes } from './routes/codes';
import { dashboardRoutes } from './routes/dashboard';
import { invitationRoutes } from './routes/invitations';
import { notificationRoutes } from './routes/notifications';
import { healthRoutes, type Readiness } from './routes/health';
import { landingRoutes } from './routes/landing';
import { readRoutes } from './routes/reads';
import { referralRoutes } from './routes/referrals';
import { rewardRoutes } from './routes/rewards';

type Secrets = 'JWT_SECRET' | 'MEMBERSHIP_WEBHOOK_SECRET' | 'HASH_SALT';

export interface AppDependencies {
  logger: Logger;
  readiness: Readiness;
  pool: Pool;
  /** Connections with generic plans for the intake's statements (clicks, steps); `pool` when absent. */
  intakePool?: Pool;
  temporal: Client;
  /** The secrets, and any other setting that should differ from its default. */
  config: Pick<Config, Secrets> & Partial<Omit<Config, Secrets>>;
  taskQueue?: string;
  /** The journey's clock (the demo fills past weeks with it); the system clock unless given. */
  clock?: () => Date;
  /** The Temporal SDK's Prometheus endpoint, appended to /metrics. */
  temporalMetricsUrl?: string;
}

const REQUEST_BODY_LIMIT = '64kb';

/** The Express app, apart from `listen`, so tests drive it in-process. */
export function createApp(deps: AppDependencies): express.Express {
  const config: Config = { ...loadConfig({}), ...deps.config };
  const publicBaseUrl = config.PUBLIC_BASE_URL ?? `http://localhost:${config.PORT}`;
  const app = express();
  app.disable('x-powered-by');
  // CSP (no script, no framing), nosniff, Referrer-Policy and the rest of the usual protective headers, on every answer.
  app.use(helmet({ contentSecurityPolicy: { directives: { 'script-src': ["'none'"], 'frame-ancestors': ["'none'"] } }, referrerPolicy: { policy: 'no-referrer' } }));
  app.set('trust proxy', config.TRUST_PROXY);
  app.use(
    pinoHttp({
      logger: deps.logger,
      genReqId: (req, res) => {
        const incoming = req.headers['x-request-id'];
        const id = typeof incoming === 'string' && /^[\w-]{1,64}$/.test(incoming) ? incoming : randomUUID();
        res.setHeader('x-request-id', id);
        return id;
      },
      // The client as a salted hash only: the same visitor's requests can be told apart from others', not traced.
      // pino-http asks twice a request (for its logger, then for the response's line): hashed once, kept with the response.
      customProps: (req, res) => ((res as express.Response).locals.loggedClient ??= { client: saltedHash(config.HASH_SALT, (req as express.Request).ip ?? '').slice(0, 16) }),
      serializers: { req: (req: { url: string }) => ({ ...req, url: loggableUrl(req.url) }) },
    }),
  );
  app.use(measureRequests);
  app.use(cookieParser());
  app.use(
    express.json({
      limit: REQUEST_BODY_LIMIT,
      // The webhook signature covers the exact bytes received.
      verify: (req, _res, buffer) => {
        (req as typeof req & { rawBody?: string }).rawBody = buffer.toString('utf8');
      },
    }),
  );

  const service = createReferralService({
    pool: deps.pool,
    intakePool: deps.intakePool,
    temporal: deps.temporal,
    hashSalt: config.HASH_SALT,
    taskQueue: deps.taskQueue,
    clock: deps.clock,
    ...referralServiceSettings(config),
  });
  const tokens = createReferralTokens(config.JWT_SECRET);
  const authenticate = createAuthenticator({
    pool: deps.pool,
    jwtSecret: config.JWT_SECRET,
    jwksUrl: config.JWKS_URL,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    sessionHours: config.SESSION_HOURS,
    publicBaseUrl,
  });
  // Load is shed before a click's rate limits are counted (in its one lookup), so a blast costs Postgres nothing.
  const clickGate = inFlightLimit(config.MAX_CLICKS_IN_FLIGHT);
  const counts = createCountsService({
    ttlMs: config.COUNTS_CACHE_SECONDS * 1000,
    repository: { countsFor: (orgId, mentorId) => withOrgScope(deps.pool, orgId, (client) => mentorCounts(client, mentorId)) },
  });

  const backlogs = backlogsOf(deps.pool);
  measureBacklogs(backlogs);
  app.use(healthRoutes({ readiness: deps.readiness, backlogs, temporalMetricsUrl: deps.temporalMetricsUrl }));
  app.use(openApiRoutes());
  app.use(
    landingRoutes({
      service,
      tokens,
      clickGate,
      appDeepLink: config.APP_DEEP_LINK,
      appStoreUrl: config.APP_STORE_URL,
      playStoreUrl: config.PLAY_STORE_URL,
    }),
  );
  app.use(dashboardRoutes({ authenticate, oidc: oidcFromConfig(config, publicBaseUrl), demoSignIn: config.NODE_ENV === 'development' }));
  app.use(referralRoutes({ service, tokens, authenticate, clickGate, webhookSecret: config.MEMBERSHIP_WEBHOOK_SECRET }));
  const codes = createCodeService({ pool: deps.pool, publicBaseUrl });
  app.use(codeRoutes({ authenticate, codes }));
  app.use(
    invitationRoutes({
      authenticate,
      invitations: createInvitationService({
        pool: deps.pool,
        temporal: deps.temporal,
        codes,
        hashSalt: config.HASH_SALT,
        taskQueue: deps.taskQueue,
        mailConfigured: config.SMTP_URL !== undefined || config.NODE_ENV !== 'production',
        settings: {
          perMentorPerDay: config.INVITATIONS_PER_MENTOR_PER_DAY,
          reinviteAfterDays: config.INVITATION_REINVITE_DAYS,
          ...invitationTiming(config),
        },
      }),
    }),
  );
  app.use(notificationRoutes({ authenticate, notifications: createNotificationService({ pool: deps.pool }) }));
  app.use(rewardRoutes({ authenticate, rewards: createRewardService({ pool: deps.pool }) }));
  app.use(readRoutes({ authenticate, counts, reads: createReadService({ pool: deps.pool }) }));
  app.use(adminRoutes({ authenticate, logger: deps.logger, admin: createAdminService({ pool: deps.pool, referrals: service, hashSalt: config.HASH_SALT }) }));
  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}
