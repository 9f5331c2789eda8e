import { randomBytes, randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { withOrgScope } from '../db/scoped';
import type { Caller } from '../api/auth';
import { ForbiddenError, NotFoundError, UnprocessableError } from '../errors';

const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
const CODE_LENGTH = 10;

/** Ten characters from a 57-letter url-safe alphabet (about 58 bits), without look-alikes such as 0/O and 1/l. */
export function generateCode(): string {
  let code = '';
  while (code.length < CODE_LENGTH) {
    for (const byte of randomBytes(CODE_LENGTH * 2)) {
      // Rejection sampling keeps every letter equally likely.
      if (byte < Math.floor(256 / ALPHABET.length) * ALPHABET.length && code.length < CODE_LENGTH) {
        code += ALPHABET[byte % ALPHABET.length];
      }
    }
  }
  return code;
}

export interface CodeView {
  id: string;
  code: string;
  mentorId: string;
  campaign: string | null;
  channel: string | null;
  url: string;
  expiresAt: string | null;
  revokedAt: string | null;
  createdAt: string;
}

export interface NewCode {
  mentorId?: string;
  campaign?: string;
  channel?: string;
  expiresAt?: string;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type CodeRow = any;

export function createCodeService(deps: { pool: Pool; publicBaseUrl: string }) {
  const urlFor = (code: string, channel: string | null) => {
    const url = new URL(`/r/${code}`, deps.publicBaseUrl);
    if (channel) url.searchParams.set('ch', channel);
    return url.toString();
  };
  const view = (row: CodeRow, channel: string | null = row.default_channel): CodeView => ({
    id: row.id,
    code: row.code,
    mentorId: row.mentor_id,
    campaign: row.campaign,
    channel: row.default_channel,
    url: urlFor(row.code, channel),
    expiresAt: row.expires_at ? row.expires_at.toISOString() : null,
    revokedAt: row.revoked_at ? row.revoked_at.toISOString() : null,
    createdAt: row.created_at.toISOString(),
  });

  /** The mentor a code is made for: a mentor makes their own, an org admin one for any mentor of the org. */
  async function mentorFor(caller: Caller, requested: string | undefined): Promise<string> {
    const mentorId = requested ?? caller.userId;
    if (caller.role === 'peer_mentor' && mentorId !== caller.userId) throw new ForbiddenError('Mentors create codes for themselves only');
    if (caller.role !== 'peer_mentor' && caller.role !== 'org_admin') throw new ForbiddenError('Only mentors and organisation admins create codes');
    const known = await deps.pool.query('SELECT 1 FROM users WHERE id = $1 AND org_id = $2', [mentorId, caller.orgId]);
    if (known.rowCount === 0) throw new NotFoundError('mentor');
    return mentorId;
  }

  async function insert(caller: Caller, mentorId: string, input: NewCode, bulkKey: string | null): Promise<CodeRow> {
    for (;;) {
      const result = await deps.pool.query(
        `INSERT INTO referral_codes (id, code, mentor_id, org_id, campaign, default_channel, expires_at, bulk_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (code) DO NOTHING
         RETURNING *`,
        [randomUUID(), generateCode(), mentorId, caller.orgId, input.campaign ?? null, input.channel ?? null, input.expiresAt ?? null, bulkKey],
      );
      // A collision of two random codes is astronomically rare; draw again if it happens.
      if (result.rows[0]) return result.rows[0];
    }
  }

  /** A code the caller may manage: unknown or another organisation's is 404, another mentor's 403. */
  async function managedCode(caller: Caller, id: string): Promise<CodeRow> {
    const found = await deps.pool.query('SELECT * FROM referral_codes WHERE id = $1 AND org_id = $2', [id, caller.orgId]);
    const row = found.rows[0];
    if (!row) throw new NotFoundError('referral code');
    const own = row.mentor_id === caller.userId;
    if (!own && caller.role !== 'org_admin' && caller.role !== 'coordinator') throw new ForbiddenError('This code belongs to another mentor');
    return row;
  }

  return {
    urlFor,

    async create(caller: Caller, input: NewCode): Promise<CodeView> {
      if (input.expiresAt && Date.parse(input.expiresAt) <= Date.now()) {
        throw new UnprocessableError('expiry_in_past', 'expiresAt must be in the future');
      }
      return view(await insert(caller, await mentorFor(caller, input.mentorId), input, null));
    },

    async list(caller: Caller, filters: { mentorId?: string }): Promise<CodeView[]> {
      if (caller.role === 'platform_admin') throw new ForbiddenError('Platform admins see cross-organisation totals only');
      const mentorId = caller.role === 'peer_mentor' ? caller.userId : filters.mentorId;
      const rows = await withOrgScope(deps.pool, caller.orgId, async (client) =>
        (
          await client.query(
            `SELECT * FROM referral_codes WHERE org_id = $1 AND ($2::uuid IS NULL OR mentor_id = $2)
             ORDER BY created_at DESC, id LIMIT 500`,
            [caller.orgId, mentorId ?? null],
          )
        ).rows,
      );
      return rows.map((row) => view(row));
    },

    async get(caller: Caller, id: string, channel?: string): Promise<CodeView> {
      return view(await managedCode(caller, id), channel ?? null);
    },

    async revoke(caller: Caller, id: string): Promise<CodeView> {
      const row = await managedCode(caller, id);
      if (caller.role === 'coordinator') throw new ForbiddenError('Coordinators cannot revoke codes');
      const revoked = await deps.pool.query(
        'UPDATE referral_codes SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 RETURNING *',
        [row.id],
      );
      return view(revoked.rows[0]);
    },

    /** Bulk invitations: one code per (mentor, campaign), created once however often the upload is repeated. */
    async ensureBulkCode(caller: Caller, input: NewCode & { mentorId: string }): Promise<{ code: CodeView; created: boolean }> {
      const mentorId = await mentorFor(caller, input.mentorId);
      const bulkKey = input.campaign ?? '';
      const existing = await deps.pool.query(
        'SELECT * FROM referral_codes WHERE org_id = $1 AND mentor_id = $2 AND bulk_key = $3',
        [caller.orgId, mentorId, bulkKey],
      );
      if (existing.rows[0]) return { code: view(existing.rows[0]), created: false };
      try {
        return { code: view(await insert(caller, mentorId, input, bulkKey)), created: true };
      } catch (error) {
        // Two uploads raced on the same row: the other one's code is the answer.
        if ((error as { code?: string }).code !== '23505') throw error;
        const raced = await deps.pool.query(
          'SELECT * FROM referral_codes WHERE org_id = $1 AND mentor_id = $2 AND bulk_key = $3',
          [caller.orgId, mentorId, bulkKey],
        );
        return { code: view(raced.rows[0]), created: false };
      }
    },
  };
}

export type CodeService = ReturnType<typeof createCodeService>;
