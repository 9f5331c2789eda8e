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
  const parsed = new URL(url, 'http://service.invalid');
  for (const key of SECRET_QUERY_KEYS) if (parsed.searchParams.has(key)) parsed.searchParams.set(key, 'redacted');
  const path = parsed.pathname.replace(/^\/unsubscribe\/[^/]+/, '/unsubscribe/redacted');
  return `${path}${parsed.search}`;
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options = { level, base: { service: 'referral-attribution' }, timestamp: pino.stdTimeFunctions.isoTime, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
  return destination ? pino(options, destination) : pino(options);
}
