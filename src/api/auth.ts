import type { Request } from 'express';
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { Pool } from 'pg';
import { z } from 'zod';
import { AppError } from '../errors';

export const ROLES = ['peer_mentor', 'coordinator', 'org_admin', 'platform_admin'] as const;
export type Role = (typeof ROLES)[number];

const claimsSchema = z.object({
  sub: z.uuid(),
  role: z.enum(ROLES),
  org_id: z.uuid(),
  name: z.string().max(200).optional(),
});

export interface Caller {
  userId: string;
  orgId: string;
  role: Role;
}

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
export function createAuthenticator(options: { pool: Pool; jwtSecret: string; jwksUrl?: string }) {
  const key: Uint8Array | JWTVerifyGetKey = options.jwksUrl
    ? createRemoteJWKSet(new URL(options.jwksUrl))
    : new TextEncoder().encode(options.jwtSecret);
  // Users seen recently need no upsert; a role change in the token still upserts at once.
  const known = new Map<string, number>();
  const KNOWN_FOR_MS = 5 * 60_000;
  return async function authenticate(req: Request): Promise<Caller> {
    let payload: unknown;
    try {
      payload = (await jwtVerify(bearerToken(req), key as Uint8Array)).payload;
    } catch {
      throw new UnauthorizedError();
    }
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) throw new UnauthorizedError('The token lacks sub, role or org_id');
    const { sub, role, org_id: orgId, name } = claims.data;
    const knownAs = `${sub}|${orgId}|${role}|${name ?? ''}`;
    if ((known.get(knownAs) ?? 0) > Date.now()) return { userId: sub, orgId, role };
    await options.pool.query('INSERT INTO organisations (id) VALUES ($1) ON CONFLICT (id) DO NOTHING', [orgId]);
    const upserted = await options.pool.query(
      `INSERT INTO users (id, org_id, role, display_name) VALUES ($1, $2, $3, $4)
       ON CONFLICT (id) DO UPDATE SET role = EXCLUDED.role, display_name = COALESCE(EXCLUDED.display_name, users.display_name)
       WHERE users.org_id = EXCLUDED.org_id
       RETURNING id`,
      [sub, orgId, role, name ?? null],
    );
    if (upserted.rowCount === 0) throw new UnauthorizedError('The token names a user of another organisation');
    if (known.size > 50_000) known.clear();
    known.set(knownAs, Date.now() + KNOWN_FOR_MS);
    return { userId: sub, orgId, role };
  };
}

export type Authenticate = ReturnType<typeof createAuthenticator>;
