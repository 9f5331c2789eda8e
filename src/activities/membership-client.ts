import { z } from 'zod';
import { uuid } from '../ids';

export const registrationSchema = z.object({
  referralCode: z.string().regex(/^[A-Za-z0-9_-]{6,64}$/),
  newMemberId: uuid,
  occurredAt: z.iso.datetime({ offset: true }),
});
export type Registration = z.infer<typeof registrationSchema>;

const pageSchema = z.object({ registrations: z.array(z.unknown()) });

export interface MembershipClient {
  /** Registrations that carried a referral code since the given time; malformed entries are left out. */
  recentRegistrations(since: string): Promise<Registration[]>;
}

export class MembershipApiError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MembershipApiError';
  }
}

/** GET `<MEMBERSHIP_API_URL>/registrations?since=<ISO time>` answering `{ registrations: [...] }`. */
export function createMembershipClient(url: string | undefined, timeoutMs = 30_000): MembershipClient {
  return {
    async recentRegistrations(since) {
      if (!url) return [];
      const endpoint = new URL('registrations', url.endsWith('/') ? url : `${url}/`);
      endpoint.searchParams.set('since', since);
      const response = await fetch(endpoint, { signal: AbortSignal.timeout(timeoutMs) });
      if (!response.ok) throw new MembershipApiError(`membership system answered ${response.status}`);
      const page = pageSchema.safeParse(await response.json());
      if (!page.success) throw new MembershipApiError('membership system answered an unexpected shape');
      return page.data.registrations.flatMap((entry) => {
        const registration = registrationSchema.safeParse(entry);
        return registration.success ? [registration.data] : [];
      });
    },
  };
}
