import { randomBytes, randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { createCodeStore, type ReferralCodeRow } from '../db/codes';
import { createOrgStore } from '../db/orgs';
import { authorise, type Caller } from '../domain/access';
import { NotFoundError, UnprocessableError } from '../errors';

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

/** Revoked, or past its expiry: the link only says it has ended. */
export const linkHasEnded = (code: Pick<CodeView, 'revokedAt' | 'expiresAt'>) => code.revokedAt !== null || (code.expiresAt !== null && Date.parse(code.expiresAt) <= Date.now());

export function createCodeService(deps: { pool: Pool; publicBaseUrl: string }) {
  const codes = createCodeStore(deps.pool);
  const orgs = createOrgStore(deps.pool);
  const urlFor = (code: string, channel: string | null) => {
    const url = new URL(`/r/${code}`, deps.publicBaseUrl);
    if (channel) url.searchParams.set('ch', channel);
    return url.toString();
  };
  const view = (row: ReferralCodeRow, channel: string | null = row.default_channel): CodeView => ({
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
    authorise(caller, 'createCode', mentorId);
    const role = await orgs.roleOf(mentorId, caller.orgId);
    if (!role) throw new NotFoundError('mentor');
    // Recruits are attributed to peer mentors: a link of an admin's or a coordinator's would make them one.
    if (role !== 'peer_mentor') throw new UnprocessableError('not_a_peer_mentor', `Invite links and invitations are for peer mentors; ${mentorId} is not a peer mentor of this organisation`);
    return mentorId;
  }

  async function insert(caller: Caller, mentorId: string, input: NewCode, bulkKey: string | null): Promise<ReferralCodeRow> {
    for (;;) {
      const row = await codes.insert({
        id: randomUUID(),
        code: generateCode(),
        mentorId,
        orgId: caller.orgId,
        campaign: input.campaign ?? null,
        channel: input.channel ?? null,
        expiresAt: input.expiresAt ?? null,
        bulkKey,
      });
      // A collision of two random codes is astronomically rare; draw again if it happens.
      if (row) return row;
    }
  }

  /** A code the caller may see or manage: unknown or another organisation's is 404, another mentor's 403. */
  async function managedCode(caller: Caller, id: string, action: 'readCode' | 'revokeCode'): Promise<ReferralCodeRow> {
    const row = await codes.ofOrg(id, caller.orgId);
    if (!row) throw new NotFoundError('referral code');
    authorise(caller, action, row.mentor_id);
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
      const scope = authorise(caller, 'listCodes');
      const rows = await codes.list(caller.orgId, scope === 'own' ? caller.userId : filters.mentorId);
      return rows.map((row) => view(row));
    },

    async get(caller: Caller, id: string, channel?: string): Promise<CodeView> {
      return view(await managedCode(caller, id, 'readCode'), channel ?? null);
    },

    async revoke(caller: Caller, id: string): Promise<CodeView> {
      const row = await managedCode(caller, id, 'revokeCode');
      return view(await codes.revoke(row.id));
    },

    /** An upload's mentor, who need not have signed in yet: a user of this organisation, whatever another has. */
    ensureMentor(caller: Caller, mentorId: string, displayName: string | null): Promise<void> {
      authorise(caller, 'bulkCodes');
      return orgs.ensureMentor(mentorId, caller.orgId, displayName);
    },

    /** Bulk invitations: one code per (mentor, campaign), created once however often the upload is repeated. */
    async ensureBulkCode(caller: Caller, input: NewCode & { mentorId: string }): Promise<{ code: CodeView; created: boolean }> {
      const mentorId = await mentorFor(caller, input.mentorId);
      const bulkKey = input.campaign ?? '';
      const existing = await codes.byBulkKey(caller.orgId, mentorId, bulkKey);
      if (existing) {
        const code = view(existing);
        // A link the mentor revoked, or one past its expiry, is not handed out again.
        if (!linkHasEnded(code)) return { code, created: false };
        await codes.releaseBulkKey(existing.id);
      }
      try {
        return { code: view(await insert(caller, mentorId, input, bulkKey)), created: true };
      } catch (error) {
        // Two uploads raced on the same row: the other one's code is the answer.
        if ((error as { code?: string }).code !== '23505') throw error;
        return { code: view((await codes.byBulkKey(caller.orgId, mentorId, bulkKey))!), created: false };
      }
    },
  };
}

export type CodeService = ReturnType<typeof createCodeService>;
