import type { Request } from 'express';
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { Pool } from 'pg';
import { z } from 'zod';
import { createOrgStore } from '../db/orgs';
import { ROLES, type Caller } from '../domain/access';
import { AppError } from '../errors';
import { ServiceUnavailableError } from './errors';

const claimsSchema = z.object({
  sub: z.uuid(),
  role: z.enum(ROLES),
  org_id: z.uuid(),
  name: z.string().max(200).optional(),
});

export class UnauthorizedError extends AppError {
  constructor(message = 'A valid bearer token is required') {
    super(401, 'unauthorized', message);
  }
}

export function bearerToken(req: Request): string {
  const match = req.headers.authorization?.match(/^Bearer ([\w.-]+)$/);
  if (!match) throw new UnauthorizedError();
  return match[1];
}

/**
 * Verifies the member JWT (HS256 with JWT_SECRET, or a JWKS URL in production) and makes the
 * organisation and user known on first use: there is no separate sign-up.
 */
/** How far a token's times may be off the service's clock. */
const CLOCK_TOLERANCE_SECONDS = 30;

export interface AuthenticatorOptions {
  pool: Pool;
  jwtSecret: string;
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
}

/** The identity provider's keys could not be fetched: the caller should retry, the token may well be good. */
const keysUnreachable = (error: unknown) => {
  const { code } = error as { code?: unknown };
  // A timeout, an answer that is not 200, or a refused or lost connection (a system error code such as ECONNREFUSED).
  return typeof code === 'string' && (code === 'ERR_JWKS_TIMEOUT' || code === 'ERR_JOSE_GENERIC' || /^E[A-Z]+$/.test(code));
};

export function createAuthenticator(options: AuthenticatorOptions) {
  const key: Uint8Array | JWTVerifyGetKey = options.jwksUrl
    ? createRemoteJWKSet(new URL(options.jwksUrl))
    : new TextEncoder().encode(options.jwtSecret);
  const orgs = createOrgStore(options.pool);
  // Users seen recently need no upsert; a role change in the token still upserts at once.
  const known = new Map<string, number>();
  const KNOWN_FOR_MS = 5 * 60_000;
  /** `identifyOnly`: the caller's identity from the token, without recording them (a click is not a sign-in). */
  return async function authenticate(req: Request, mode: { identifyOnly?: boolean } = {}): Promise<Caller> {
    let payload: unknown;
    const token = bearerToken(req);
    try {
      payload = (
        await jwtVerify(token, key as Uint8Array, {
          requiredClaims: ['exp'],
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          ...(options.issuer ? { issuer: options.issuer } : {}),
          ...(options.audience ? { audience: options.audience } : {}),
        })
      ).payload;
    } catch (error) {
      if (options.jwksUrl && keysUnreachable(error)) throw new ServiceUnavailableError();
      throw new UnauthorizedError();
    }
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) throw new UnauthorizedError('The token lacks sub, role or org_id');
    const { sub, role, org_id: orgId, name } = claims.data;
    const knownAs = `${sub}|${orgId}|${role}|${name ?? ''}`;
    if (mode.identifyOnly || (known.get(knownAs) ?? 0) > Date.now()) return { userId: sub, orgId, role };
    if (!(await orgs.upsertMember({ userId: sub, orgId, role, name: name ?? null }))) throw new UnauthorizedError('The token names a user of another organisation');
    if (known.size > 50_000) known.clear();
    known.set(knownAs, Date.now() + KNOWN_FOR_MS);
    return { userId: sub, orgId, role };
  };
}

export type Authenticate = ReturnType<typeof createAuthenticator>;
