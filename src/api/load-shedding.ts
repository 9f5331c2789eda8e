import type { RequestHandler } from 'express';
import { AppError } from '../errors';

export class OverloadedError extends AppError {
  constructor() {
    super(503, 'overloaded', 'Too many requests in progress; retry in a moment', { retryAfterSeconds: 1 });
  }
}

/**
 * At most `limit` requests in progress through this gate per process; the rest are answered 503 with
 * Retry-After at once, so a campaign blast is shed instead of queued until clients time out.
 */
export function inFlightLimit(limit: number): RequestHandler {
  let inFlight = 0;
  return (_req, res, next) => {
    if (inFlight >= limit) {
      next(new OverloadedError());
      return;
    }
    inFlight += 1;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      inFlight -= 1;
    };
    res.on('finish', release);
    res.on('close', release);
    next();
  };
}
