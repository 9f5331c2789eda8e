import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import { ZodError } from 'zod';
import { AppError, ServiceUnavailableError } from '../errors';
import { answerPage } from './pages';

export class ValidationError extends AppError {
  constructor(error: ZodError) {
    // Where and what, in words: never the internals of a check (a date format's regex, say).
    super(400, 'invalid_request', 'The request is not valid', error.issues.map(({ path, code, message }) => ({ path, code, message })));
  }
}

export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new AppError(404, 'not_found', `No route for ${req.method} ${req.path}`));
};

interface BodyParserError {
  type?: string;
  status?: number;
  message: string;
}

function fromBodyParser(error: BodyParserError): AppError | undefined {
  if (error.type === 'entity.too.large') return new AppError(413, 'payload_too_large', 'The request body is too large');
  if (error.type === 'entity.parse.failed') return new AppError(400, 'malformed_json', 'The request body is not valid JSON');
  if (error.status && error.status >= 400 && error.status < 500) {
    return new AppError(error.status, 'bad_request', error.message);
  }
  return undefined;
}

/** Postgres and network failures that pass: refused or lost connections, a server shutting down or starting up. */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08006']);
/**
 * gRPC statuses that pass: UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, and CANCELLED: the service cancels no call
 * of its own, so a cancelled one was reset by the server or the connection (seen as a paused Temporal server resumed).
 */
const TRANSIENT_GRPC_STATUSES = new Set([14, 4, 8, 1]);
const GRPC_NOT_FOUND = 5;
const GRPC_FAILED_PRECONDITION = 9;

type ErrorLike = { code?: unknown; name?: unknown; message?: unknown; cause?: unknown; metadata?: unknown };

/** Postgres or Temporal out of reach for a while: the caller should retry, nothing was accepted. Anything else is not. */
function isTemporarilyUnavailable(error: unknown): boolean {
  for (let current = error as ErrorLike | undefined, depth = 0; current && depth < 5; depth += 1) {
    if (typeof current.code === 'string' && UNAVAILABLE_CODES.has(current.code)) return true;
    if (current.name === 'ConnectionError') return true;
    // A Temporal server whose own store is down cannot read its namespaces and says the namespace is not found (seen
    // in the Postgres drill on Temporal on Postgres), wrapped or, from an update-with-start, as the gRPC status itself.
    if (current.name === 'NamespaceNotFoundError') return true;
    // A confirmation its workflow did not answer within CONFIRM_TIMEOUT_MS: retried, it lands.
    if (current.name === 'WorkflowUpdateRPCTimeoutOrCancelledError') return true;
    if (typeof current.code === 'number' && 'metadata' in current) {
      if (TRANSIENT_GRPC_STATUSES.has(current.code)) return true;
      // The server's WorkflowNotReady: the workflow's task has failed or timed out several times in a row (its worker
      // killed, say), or failed while it carried this update; the confirmation lands when retried once a task completes.
      if (current.code === GRPC_FAILED_PRECONDITION) {
        return typeof current.message === 'string' && /Workflow Task in failed state|unexpected workflow task failure/i.test(current.message);
      }
      return current.code === GRPC_NOT_FOUND && typeof current.message === 'string' && /Namespace .* not found/i.test(current.message);
    }
    if (typeof current.message === 'string' && /Connection terminated|connection timeout|not queryable/i.test(current.message)) return true;
    current = current.cause as ErrorLike;
  }
  return false;
}

/** Postgres refusing a value (class 22: data exception, such as an invalid date or number): the request's fault. */
function fromPostgresDataException(error: unknown): AppError | undefined {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && /^22[0-9A-Z]{3}$/.test(code) ? new AppError(400, 'invalid_value', 'A value in the request is not valid') : undefined;
}

/** A browser opening an address outside the API (a link cut short, a page that does not exist) is a person: a page. */
const wantsPage = (req: Request) => !req.path.startsWith('/api/') && req.accepts(['json', 'html']) === 'html';

/** What a person reads for an error status. */
function pageFor(status: number): [title: string, message: string] {
  if (status === 404) return ['Page not found', 'There is no page at this address. Check the link, or ask the person who sent it for a new one.'];
  if (status === 429 || status === 503) return ['Not available just now', 'Please try again in a minute.'];
  if (status < 500) return ['This address is not valid', 'Check the link, or ask the person who sent it for a new one.'];
  return ['Something went wrong on our side', 'Please try again later.'];
}

/** What an error means to a caller, when it is one the service understands: ours, a request's fault, or an outage. */
export function knownError(error: unknown): AppError | undefined {
  if (error instanceof AppError) return error;
  if (error instanceof ZodError) return new ValidationError(error);
  if (isTemporarilyUnavailable(error)) return new ServiceUnavailableError();
  return fromPostgresDataException(error) ?? fromBodyParser(error as BodyParserError);
}

/** How long a refused caller should wait before trying again, when the refusal says. */
export function retryAfterSeconds(answer: AppError | undefined): number | undefined {
  const details = answer?.details;
  return typeof details === 'object' && details && 'retryAfterSeconds' in details ? Number(details.retryAfterSeconds) : undefined;
}

/** A body no parser read (a form, plain text sent where JSON is taken): its type is what is wrong, not a missing field. */
const unreadBody = (req: Request) => req.body === undefined && req.is('json') === false;

/** The one place errors become answers: `{ error: { code, message, details } }`, or a page for a person. */
export const errorHandler: ErrorRequestHandler = (error, req, res, _next) => {
  const known =
    error instanceof ZodError && unreadBody(req)
      ? new AppError(415, 'unsupported_media_type', `Send the body as JSON, with Content-Type: application/json; it came ${req.get('content-type') ? `as ${req.get('content-type')}` : 'with none'}`)
      : knownError(error);
  if (known instanceof ServiceUnavailableError) req.log.warn({ err: error }, 'dependency unavailable');
  if (!known) req.log.error({ err: error }, 'unhandled error');
  const answer = known ?? new AppError(500, 'internal', 'Something went wrong on our side');
  const retryAfter = retryAfterSeconds(answer);
  if ((answer.status === 429 || answer.status === 503) && retryAfter !== undefined) res.setHeader('Retry-After', String(retryAfter));
  if (wantsPage(req)) return answerPage(res, answer.status, ...pageFor(answer.status));
  res.status(answer.status).json({ error: { code: answer.code, message: answer.message, details: answer.details } });
};
