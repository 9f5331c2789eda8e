import { createHash, randomBytes } from 'node:crypto';
import type { Request } from 'express';
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { Pool } from 'pg';
import { z } from 'zod';
import { createOrgStore } from '../db/orgs';
import { createSessionStore } from '../db/sessions';
import { ROLES, type Caller } from '../domain/access';
import { AppError, ForbiddenError, ServiceUnavailableError } from '../errors';
import { uuid } from '../ids';

/** A member of an organisation, as a token names them. */
const memberSchema = z.object({ sub: uuid, org_id: uuid });
export type MemberIdentity = Pick<Caller, 'userId' | 'orgId'>;

const claimsSchema = memberSchema.extend({
  role: z.enum(ROLES),
  name: z.string().max(200).optional(),
  email: z.email().max(320).optional(),
});

/** Who a verified token or sign-in names: the caller, and the name and address the service keeps for them. */
export interface Identity {
  caller: Caller;
  name?: string;
  email?: string;
}

export class UnauthorizedError extends AppError {
  constructor(message = 'A valid bearer token is required') {
    super(401, 'unauthorized', message);
  }
}

/** The token of `Authorization: Bearer <token>`; HTTP reads the scheme's name in any case. */
export function bearerToken(req: Request): string {
  const match = req.headers.authorization?.match(/^Bearer +([\w.-]+) *$/i);
  if (!match) throw new UnauthorizedError();
  return match[1];
}

/** How far a token's times may be off the service's clock. */
const CLOCK_TOLERANCE_SECONDS = 30;

export interface AuthenticatorOptions {
  pool: Pool;
  jwtSecret: string;
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  /** The service's own address (PUBLIC_BASE_URL), whose pages may make changes with a session. */
  publicBaseUrl?: string;
  /** How long a dashboard session lasts (12 hours). */
  sessionHours?: number;
  clock?: () => Date;
}

/** The identity provider's keys could not be fetched: the caller should retry, the token may well be good. */
const keysUnreachable = (error: unknown) => {
  const { code } = error as { code?: unknown };
  // A timeout, an answer that is not 200, or a refused or lost connection (a system error code such as ECONNREFUSED).
  return typeof code === 'string' && (code === 'ERR_JWKS_TIMEOUT' || code === 'ERR_JOSE_GENERIC' || /^E[A-Z]+$/.test(code));
};

/** The cookie that carries a dashboard session's id (random; the service keeps only its hash). */
export const SESSION_COOKIE = 'dashboard_session';

const sessionIdHash = (sessionId: string) => createHash('sha256').update(sessionId).digest('base64url');

/**
 * A cookie goes with any request to the service, so a change made with one must come from the service's own pages:
 * the host the request came to, or PUBLIC_BASE_URL's (a proxy may pass on another Host).
 */
function sameOrigin(req: Request, publicOrigin: string | undefined): boolean {
  const origin = req.get('origin');
  if (!origin) return req.get('sec-fetch-site') === 'same-origin';
  try {
    return origin === publicOrigin || new URL(origin).host === req.get('host');
  } catch {
    // not a URL: not our origin
    return false;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function createAuthenticator(options: AuthenticatorOptions) {
  const key: Uint8Array | JWTVerifyGetKey = options.jwksUrl
    ? createRemoteJWKSet(new URL(options.jwksUrl))
    : new TextEncoder().encode(options.jwtSecret);
  const orgs = createOrgStore(options.pool);
  const sessions = createSessionStore(options.pool);
  const now = options.clock ?? (() => new Date());
  const publicOrigin = options.publicBaseUrl ? new URL(options.publicBaseUrl).origin : undefined;
  // Users seen recently need no upsert; a role change in the token still upserts at once.
  const known = new Map<string, number>();
  const KNOWN_FOR_MS = 5 * 60_000;

  const verifiedPayload = async (token: string): Promise<unknown> =>
    (
      await jwtVerify(token, key as Uint8Array, {
        requiredClaims: ['exp'],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        ...(options.issuer ? { issuer: options.issuer } : {}),
        ...(options.audience ? { audience: options.audience } : {}),
      })
    ).payload;

  async function verified(token: string): Promise<Identity> {
    let payload: unknown;
    try {
      payload = await verifiedPayload(token);
    } catch (error) {
      if (options.jwksUrl && keysUnreachable(error)) throw new ServiceUnavailableError();
      throw new UnauthorizedError();
    }
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) throw new UnauthorizedError('The token lacks sub, role or org_id');
    return { caller: { userId: claims.data.sub, orgId: claims.data.org_id, role: claims.data.role }, name: claims.data.name, email: claims.data.email };
  }

  /** The user, made known to the service on first use: there is no separate sign-up. */
  async function recorded({ caller, name, email }: Identity): Promise<Caller> {
    const knownAs = `${caller.userId}|${caller.orgId}|${caller.role}|${name ?? ''}|${email ?? ''}`;
    if ((known.get(knownAs) ?? 0) > Date.now()) return caller;
    await orgs.upsertMember({ ...caller, name: name ?? null, email: email ?? null });
    if (known.size > 50_000) known.clear();
    known.set(knownAs, Date.now() + KNOWN_FOR_MS);
    return caller;
  }

  async function signedIn(token: string): Promise<Caller> {
    return recorded(await verified(token));
  }

  /** A new session for a user whose identity was verified: the cookie's value, and when it ends. */
  async function openSession(identity: Identity): Promise<{ sessionId: string; caller: Caller; expiresAt: Date }> {
    const caller = await recorded(identity);
    const sessionId = randomBytes(32).toString('base64url');
    const expiresAt = new Date(now().getTime() + (options.sessionHours ?? 12) * 3_600_000);
    await sessions.create(sessionIdHash(sessionId), caller, expiresAt, now());
    return { sessionId, caller, expiresAt };
  }

  async function fromSession(req: Request): Promise<Caller> {
    const sessionId: unknown = req.cookies?.[SESSION_COOKIE];
    if (typeof sessionId !== 'string' || sessionId.length === 0) throw new UnauthorizedError('Sign in, or send a bearer token');
    const caller = await sessions.find(sessionIdHash(sessionId), now());
    if (!caller) throw new UnauthorizedError('Your session has ended: sign in again');
    if (!SAFE_METHODS.has(req.method) && !sameOrigin(req, publicOrigin)) throw new ForbiddenError('A change made with a session must come from this service\'s own pages');
    return caller;
  }

  /** The caller, from the bearer token (HS256 with JWT_SECRET, or a JWKS URL in production) or else the dashboard's session cookie. */
  async function authenticate(req: Request): Promise<Caller> {
    if (!req.headers.authorization) return fromSession(req);
    return signedIn(bearerToken(req));
  }

  return Object.assign(authenticate, {
    /**
     * Whom the bearer token names, if it verifies: any member of an organisation, whatever their role, and nobody is
     * recorded (a click is not a sign-in). A token that does not verify names nobody: what it came with is a public
     * request, taken all the same.
     */
    async identify(req: Request): Promise<MemberIdentity | undefined> {
      if (!req.headers.authorization) return undefined;
      try {
        const claims = memberSchema.safeParse(await verifiedPayload(bearerToken(req)));
        return claims.success ? { userId: claims.data.sub, orgId: claims.data.org_id } : undefined;
      } catch {
        // expired, signed by another key, or not a token at all
        return undefined;
      }
    },
    /** A session for the member token's user (an organisation's portal linking in). */
    startSession: async (token: string) => openSession(await verified(token)),
    /** A session for a user the identity provider, or development's demo sign-in, vouched for. */
    openSession,
    async endSession(req: Request): Promise<void> {
      const sessionId: unknown = req.cookies?.[SESSION_COOKIE];
      if (typeof sessionId === 'string' && sessionId.length > 0) await sessions.remove(sessionIdHash(sessionId));
    },
  });
}

export type Authenticate = ReturnType<typeof createAuthenticator>;
