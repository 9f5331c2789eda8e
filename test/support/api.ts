import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import pino from 'pino';
import { createApp, type AppDependencies } from '../../src/api/app';
import { signPayload } from '../../src/api/webhook-signature';

export interface ListeningApi {
  url: string;
  close(): Promise<void>;
}

/** The Express app on a free loopback port, quiet, ready unless told otherwise. */
export async function listenApp(
  deps: Omit<AppDependencies, 'logger' | 'readiness'> & Partial<Pick<AppDependencies, 'readiness'>>,
  port = 0,
): Promise<ListeningApi> {
  const app = createApp({
    logger: pino({ level: 'silent' }),
    readiness: { postgres: async () => true, temporal: async () => true },
    // A queue of its own: a click it takes must not reach the workflows of another test's worker (or of npm start's).
    taskQueue: `test-api-${randomUUID()}`,
    ...deps,
  });
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(port, '127.0.0.1', () => resolve(listening));
  });
  const address = server.address();
  return {
    url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** The membership system's `member.registered` (or, as `event`, `member.cancelled`), signed as it signs it. */
export function registerMember(
  apiUrl: string,
  webhookSecret: string,
  registration: { code: string; newMemberId: string; deliveryId?: string; occurredAt?: string; event?: 'member.registered' | 'member.cancelled' },
) {
  const raw = JSON.stringify({
    event: registration.event ?? 'member.registered',
    referralCode: registration.code,
    newMemberId: registration.newMemberId,
    occurredAt: registration.occurredAt ?? new Date().toISOString(),
    deliveryId: registration.deliveryId ?? randomUUID(),
  });
  const at = Math.floor(Date.now() / 1000);
  return fetch(`${apiUrl}/api/v1/webhooks/membership`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-signature': `t=${at},v1=${signPayload(webhookSecret, at, raw)}` },
    body: raw,
  });
}

/** The app's word that the referral became this member's account, with the referral token it holds. */
export function reportAccount(apiUrl: string, referral: { referralId: string; referralToken: string }, newMemberId: string) {
  return fetch(`${apiUrl}/api/v1/referrals/${referral.referralId}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${referral.referralToken}` },
    body: JSON.stringify({ type: 'account_created', idempotencyKey: randomUUID(), newMemberId }),
  });
}
