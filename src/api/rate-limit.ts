import type { Request, RequestHandler } from 'express';
import type { Pool } from 'pg';
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import { TooManyRequestsError } from '../errors';
import { networkOf } from '../services/identifiers';

export interface RateLimitOptions {
  perIpPerMinute: number;
  perCodePerMinute: number;
}

/**
 * Limits on the public endpoints, per client IP and per referral code, counted in Postgres so
 * they hold across several API processes.
 */
export function createPublicRateLimit(pool: Pool, options: RateLimitOptions) {
  const limiter = (keyPrefix: string, points: number) =>
    new RateLimiterPostgres({ storeClient: pool, tableName: 'rate_limits', tableCreated: true, keyPrefix, points, duration: 60 });
  const perIp = limiter('ip', options.perIpPerMinute);
  const perCode = limiter('code', options.perCodePerMinute);
  return (codeOf: (req: Request) => string | undefined): RequestHandler =>
    async (req, _res, next) => {
      try {
        await perIp.consume(networkOf(req.ip ?? 'unknown'));
        const code = codeOf(req);
        if (code) await perCode.consume(code.slice(0, 64));
        next();
      } catch (rejection) {
        if (rejection instanceof RateLimiterRes) {
          next(new TooManyRequestsError(Math.max(1, Math.ceil(rejection.msBeforeNext / 1000))));
        } else {
          next(rejection);
        }
      }
    };
}

/** What stands in front of the click endpoints, given how to find the code in the request. */
export type ClickGate = (codeOf: (req: Request) => string | undefined) => RequestHandler[];
