import type { JourneyFailureType } from './domain/journey';

/** Failures a caller can act on; each carries its HTTP status and a stable code. */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class NotFoundError extends AppError {
  constructor(what: string) {
    super(404, 'not_found', `${what} not found`);
  }
}

export class GoneError extends AppError {
  constructor(message: string) {
    super(410, 'gone', message);
  }
}

/** An invite link revoked or past its expiry: the page a person gets names its organisation. */
export class EndedLinkError extends GoneError {
  constructor(
    message: string,
    readonly orgName: string | null,
  ) {
    super(message);
  }
}

export class ForbiddenError extends AppError {
  constructor(message = 'Your role may not see this') {
    super(403, 'forbidden', message);
  }
}

export class ConflictError extends AppError {
  constructor(message: string, details?: unknown) {
    super(409, 'conflict', message, details);
  }
}

export class UnprocessableError extends AppError {
  constructor(code: string, message: string, details?: unknown) {
    super(422, code, message, details);
  }
}

/** The journey refused a message (DESIGN.md rules 4-5), as its workflow or the store decided. */
export class JourneyRefusedError extends ConflictError {
  constructor(
    readonly failure: JourneyFailureType,
    message: string,
  ) {
    super(message, { reason: failure });
  }
}

export class TooManyRequestsError extends AppError {
  constructor(retryAfterSeconds: number, message = 'Too many requests; try again later') {
    super(429, 'rate_limited', message, { retryAfterSeconds });
  }
}

/** Postgres or Temporal out of reach, or busy past a request's deadline: nothing was accepted, the caller retries. */
export class ServiceUnavailableError extends AppError {
  constructor() {
    super(503, 'temporarily_unavailable', 'The service is briefly unavailable; retry shortly', { retryAfterSeconds: 5 });
  }
}
