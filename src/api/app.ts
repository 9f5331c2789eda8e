import { randomUUID } from 'node:crypto';
import express from 'express';
import { pinoHttp } from 'pino-http';
import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { Config } from '../config';
import type { Logger } from '../logger';
import { withOrgScope } from '../db/scoped';
import { createCountsService } from '../services/counts-service';
import { mentorCounts } from '../services/read-model';
import { createReferralService } from '../services/referral-service';
import { createAuthenticator } from './auth';
import { errorHandler, notFoundHandler } from './errors';
import { createReferralTokens } from './referral-token';
import { healthRoutes, type Readiness } from './routes/health';
import { openApiRoutes } from './openapi';
import { adminRoutes } from './routes/admin';
import { readRoutes } from './routes/reads';
import { referralRoutes } from './routes/referrals';

export interface AppDependencies {
  logger: Logger;
  readiness: Readiness;
  pool: Pool;
  temporal: Client;
  config: Pick<Config, 'JWT_SECRET' | 'MEMBERSHIP_WEBHOOK_SECRET' | 'HASH_SALT' | 'JWKS_URL'>;
  taskQueue?: string;
}

const REQUEST_BODY_LIMIT = '64kb';

/** The Express app, apart from `listen`, so tests drive it in-process. */
export function createApp(deps: AppDependencies): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  app.use(
    pinoHttp({
      logger: deps.logger,
      genReqId: (req, res) => {
        const incoming = req.headers['x-request-id'];
        const id = typeof incoming === 'string' && /^[\w-]{1,64}$/.test(incoming) ? incoming : randomUUID();
        res.setHeader('x-request-id', id);
        return id;
      },
    }),
  );
  app.use(
    express.json({
      limit: REQUEST_BODY_LIMIT,
      // The webhook signature covers the exact bytes received.
      verify: (req, _res, buffer) => {
        (req as typeof req & { rawBody?: string }).rawBody = buffer.toString('utf8');
      },
    }),
  );
  app.use(healthRoutes(deps.readiness));
  app.use(openApiRoutes());
  app.use(
    referralRoutes({
      service: createReferralService({
        pool: deps.pool,
        temporal: deps.temporal,
        hashSalt: deps.config.HASH_SALT,
        taskQueue: deps.taskQueue,
      }),
      tokens: createReferralTokens(deps.config.JWT_SECRET),
      webhookSecret: deps.config.MEMBERSHIP_WEBHOOK_SECRET,
    }),
  );
  const authenticate = createAuthenticator({ pool: deps.pool, jwtSecret: deps.config.JWT_SECRET, jwksUrl: deps.config.JWKS_URL });
  const counts = createCountsService({
    repository: { countsFor: (orgId, mentorId) => withOrgScope(deps.pool, orgId, (client) => mentorCounts(client, mentorId)) },
  });
  app.use(readRoutes({ pool: deps.pool, authenticate, counts }));
  app.use(adminRoutes({ pool: deps.pool, temporal: deps.temporal, authenticate, logger: deps.logger }));
  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}
