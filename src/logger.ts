import pino from 'pino';

export type Logger = pino.Logger;

/** What a log line never holds: credentials, cookies, signatures and the client's raw address (DESIGN.md section 5). */
const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-signature"]',
  'req.headers["x-forwarded-for"]',
  'req.remoteAddress',
  'res.headers["set-cookie"]',
  // What some addresses carry: an unsubscribe link's token, an OpenID provider's authorization code and state.
  'req.params.token',
  'req.query.code',
  'req.query.state',
];
const SECRET_QUERY_KEYS = ['code', 'state'];

/** A request's address as logged: the secrets some addresses carry (`REDACTED_PATHS`) left out of it too. */
export function loggableUrl(url: string): string {
  // Taken apart by hand: an address no URL parser takes (`//%`) is still logged, not a failed request.
  const queryAt = url.indexOf('?');
  const path = (queryAt === -1 ? url : url.slice(0, queryAt)).replace(/^\/unsubscribe\/[^/]+/, '/unsubscribe/redacted');
  if (queryAt === -1) return path;
  const query = new URLSearchParams(url.slice(queryAt + 1));
  if (!SECRET_QUERY_KEYS.some((key) => query.has(key))) return `${path}${url.slice(queryAt)}`;
  for (const key of SECRET_QUERY_KEYS) if (query.has(key)) query.set(key, 'redacted');
  return `${path}?${query}`;
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options = { level, base: { service: 'referral-attribution' }, timestamp: pino.stdTimeFunctions.isoTime, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
  return destination ? pino(options, destination) : pino(options);
}
