import { z } from 'zod';

const DEV_JWT_SECRET = 'development-only-jwt-secret-do-not-use-in-production';
const DEV_WEBHOOK_SECRET = 'development-only-webhook-secret';
const DEV_HASH_SALT = 'development-only-hash-salt';

const optionalUrl = z.url().optional();
/** A page people open: http or https only (never javascript: and the like). */
const webUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });
const port = z.coerce.number().int().min(0).max(65535);

export const configSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    PORT: port.default(3000),
    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
      .optional(),
    /** The tables' owner, for migrations; unset, DATABASE_URL migrates. Its login is granted `referral_runtime`. */
    DATABASE_OWNER_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
      .optional(),
    EMBEDDED_POSTGRES_PORT: port.default(54329),
    TEMPORAL_ADDRESS: z
      .string()
      .regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port, e.g. localhost:7233')
      .optional(),
    TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
    TEMPORAL_PORT: port.default(7233),
    TEMPORAL_UI_PORT: port.default(8233),
    TEMPORAL_CLI_PATH: z.string().min(1).optional(),
    /** Where the Temporal SDK serves its metrics on 127.0.0.1, for /metrics to append them; unset, a free port. */
    TEMPORAL_METRICS_PORT: port.optional(),
    /** Where a standalone worker or dispatcher serves its own /metrics; unset, it serves none. */
    WORKER_METRICS_PORT: port.optional(),
    JWT_SECRET: z.string().min(32, 'must be at least 32 characters').default(DEV_JWT_SECRET),
    JWKS_URL: optionalUrl,
    /** Checked against a member token's `iss` when set (the identity provider's issuer). */
    JWT_ISSUER: z.string().min(1).optional(),
    /** Checked against a member token's `aud` when set (this service's client id at the provider). */
    JWT_AUDIENCE: z.string().min(1).optional(),
    MEMBERSHIP_WEBHOOK_SECRET: z.string().min(16, 'must be at least 16 characters').default(DEV_WEBHOOK_SECRET),
    HASH_SALT: z.string().min(16, 'must be at least 16 characters').default(DEV_HASH_SALT),
    BADGE_SERVICE_URL: optionalUrl,
    MEMBERSHIP_API_URL: optionalUrl,
    PUBLIC_BASE_URL: webUrl.optional(),
    DATA_DIR: z.string().min(1).default('.data'),
    RATE_LIMIT_PER_IP_PER_MINUTE: z.coerce.number().int().min(1).default(120),
    RATE_LIMIT_PER_CODE_PER_MINUTE: z.coerce.number().int().min(1).default(1200),
    /** `false` runs the API alone, as the docker-compose `api` service and the fault drills do. */
    RUN_WORKER: z.enum(['true', 'false']).default('true').transform((value) => value === 'true'),
    /** A workflow bundle written by `npm run bundle-workflows`; unset, the worker bundles its workflows at start. */
    WORKFLOW_BUNDLE_PATH: z.string().min(1).optional(),
    /** Workflows kept in a worker's memory; the rest replay from history when a message comes (~0.5 MB each). */
    WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).max(100_000).default(250),
    /** `false` runs the worker without the intake's dispatcher (one runs elsewhere: `npm run dispatcher`). */
    RUN_DISPATCHER: z.enum(['true', 'false']).default('true').transform((value) => value === 'true'),
    /**
     * The niceness a standalone worker or dispatcher runs at (0-19): on a host it shares with the API, delivery yields
     * the CPU to the requests a person waits for, and catches up when they leave it idle.
     */
    WORKER_NICENESS: z.coerce.number().int().min(0).max(19).default(10),
    /**
     * `idle` puts a standalone worker or dispatcher in Linux's idle scheduling class instead: it runs only on CPU the
     * processes beside it leave unused (within its container's share), so a busy API never waits for delivery.
     */
    WORKER_CPU_CLASS: z.enum(['nice', 'idle']).default('nice'),
    /** Signal-with-starts the intake's dispatcher has in flight towards Temporal at once, per process. */
    DISPATCH_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(16),
    /** How long a woken dispatcher waits for more messages before it takes them, so a referral's go together. */
    DISPATCH_LINGER_MS: z.coerce.number().int().min(0).max(1000).default(100),
    /** How long a review, a cancellation, the sweep's deletion of an erased referral's runs or one delivery of the intake waits for Temporal. */
    SIGNAL_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5000),
    /** How long a membership confirmation waits for its referral's workflow before it is answered 503 with Retry-After. */
    CONFIRM_TIMEOUT_MS: z.coerce.number().int().min(100).max(300_000).default(20_000),
    /** Clicks in progress per API process beyond which new ones are answered 503 with Retry-After. */
    MAX_CLICKS_IN_FLIGHT: z.coerce.number().int().min(1).default(256),
    /** Clicks on one code within a minute from which, at ten times its usual rate, new clicks are held for review. */
    BURST_CLICKS_PER_MINUTE: z.coerce.number().int().min(1).default(30),
    COUNTS_CACHE_SECONDS: z.coerce.number().int().min(0).max(3600).default(60),
    DEVICE_METADATA_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(90),
    APP_DEEP_LINK: z
      .string()
      .regex(/^[a-z][a-z0-9+.-]*:\/\//, 'must be a URL such as referralapp://join')
      .refine((url) => !/^(javascript|data|vbscript|file):/i.test(url), 'must be the app\'s own scheme or http(s)')
      .default('referralapp://join'),
    APP_STORE_URL: webUrl.default('https://apps.apple.com/'),
    PLAY_STORE_URL: webUrl.default('https://play.google.com/store/apps'),
    /** Which proxies' X-Forwarded-For to believe: a hop count, or addresses and subnets (comma-separated, or loopback). */
    TRUST_PROXY: z
      .string()
      .regex(/^(\d{1,2}|[\w.:/, -]+)$/, 'must be a hop count (1) or addresses such as loopback, 10.0.0.0/8')
      .default('loopback')
      .transform((value) => (/^\d+$/.test(value) ? Number(value) : value)),
    /** The organisation's OpenID provider for the dashboard's sign-in (authorization code with PKCE); unset, none. */
    OIDC_ISSUER_URL: optionalUrl,
    OIDC_CLIENT_ID: z.string().min(1).optional(),
    OIDC_CLIENT_SECRET: z.string().min(1).optional(),
    OIDC_SCOPES: z.string().min(1).default('openid profile email'),
    /** The claims that carry the user's id (a UUID), role (one of the service's roles), organisation (a UUID) and name. */
    OIDC_USER_ID_CLAIM: z.string().min(1).default('sub'),
    OIDC_ROLE_CLAIM: z.string().min(1).default('role'),
    OIDC_ORG_CLAIM: z.string().min(1).default('org_id'),
    OIDC_NAME_CLAIM: z.string().min(1).default('name'),
    OIDC_EMAIL_CLAIM: z.string().min(1).default('email'),
    /** Where mail goes out (smtp://user:pass@host:587); unset in development, it is written under DATA_DIR/mail. */
    SMTP_URL: z.string().regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL').optional(),
    MAIL_FROM: z.string().min(3).default('Referrals <no-reply@localhost>'),
    INVITATIONS_PER_MENTOR_PER_DAY: z.coerce.number().int().min(1).max(10_000).default(20),
    /** The same address is invited at most once per organisation in this many days. */
    INVITATION_REINVITE_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
    /** When an invitation's one reminder goes, unless it was clicked or cancelled; when an open one expires. */
    INVITATION_REMINDER_SECONDS: z.coerce.number().int().min(1).default(3 * 86_400),
    INVITATION_EXPIRY_SECONDS: z.coerce.number().int().min(1).default(30 * 86_400),
    /** How often a worker looks for invitations whose workflow their request could not start (Temporal out of reach). */
    INVITATION_START_POLL_SECONDS: z.coerce.number().int().min(1).max(3600).default(15),
    /** How often reward entries whose hold has passed are confirmed: the precision of the holding period. */
    REWARDS_SETTLE_SECONDS: z.coerce.number().int().min(1).max(3600).default(60),
    /** How long a dashboard sign-in lasts, in hours. */
    SESSION_HOURS: z.coerce.number().int().min(1).max(720).default(12),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .superRefine((config, ctx) => {
    if (config.OIDC_ISSUER_URL) {
      for (const name of ['OIDC_CLIENT_ID', 'OIDC_CLIENT_SECRET'] as const) {
        if (!config[name]) ctx.addIssue({ code: 'custom', path: [name], message: 'must be set with OIDC_ISSUER_URL' });
      }
    }
    if (config.NODE_ENV !== 'production') return;
    // Development defaults are public; production must bring its own secrets.
    const defaults: Array<[keyof typeof config, string]> = [
      ['JWT_SECRET', DEV_JWT_SECRET],
      ['MEMBERSHIP_WEBHOOK_SECRET', DEV_WEBHOOK_SECRET],
      ['HASH_SALT', DEV_HASH_SALT],
    ];
    // QR codes and shared links would read http://localhost otherwise.
    if (!config.PUBLIC_BASE_URL) ctx.addIssue({ code: 'custom', path: ['PUBLIC_BASE_URL'], message: 'must be set in production' });
    // Production connects to its own Postgres and Temporal cluster; the image has no embedded ones to start.
    for (const name of ['DATABASE_URL', 'TEMPORAL_ADDRESS'] as const) {
      if (!config[name]) ctx.addIssue({ code: 'custom', path: [name], message: 'must be set in production' });
    }
    for (const [name, devValue] of defaults) {
      if (config[name] === devValue) {
        ctx.addIssue({ code: 'custom', path: [name], message: 'must be set in production' });
      }
    }
  });

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Parses the environment; a bad value throws one line naming the variable and what is wrong. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const blanksRemoved = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const parsed = configSchema.safeParse(blanksRemoved);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
  throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
}
