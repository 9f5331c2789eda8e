import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { createPool } from '../src/db/pool';
import { createReferralStore } from '../src/db/referrals';
import { organisationWithMentors } from './support/rows';

// The risk check behind "many accounts from one device or IP" (DESIGN.md rule 3), read from the hashes: which of a
// mentor's referrals count as accounts from this referral's device or addresses.
let pool: Pool;

beforeAll(() => {
  pool = createPool(process.env.TEST_DATABASE_URL!, () => undefined);
});

afterAll(async () => {
  await pool.end();
});

/** A referral of `mentor` from `visitorHash`, with a click from each of `ipHashes`; with an account unless told. */
async function referral(org: { orgId: string; codes: Record<string, string> }, mentor: string, visitorHash: string, ipHashes: string[], account = true) {
  const id = randomUUID();
  await pool.query(
    `INSERT INTO referrals (id, org_id, referral_code_id, mentor_id, workflow_id, visitor_hash, stage, status, clicked_at, last_click_at, account_created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', now(), now(), $8)`,
    [id, org.orgId, org.codes[mentor], mentor, `referral-${id}`, visitorHash, account ? 'account_created' : 'clicked', account ? new Date() : null],
  );
  for (const ipHash of ipHashes) {
    await pool.query(
      `INSERT INTO click_events (id, referral_code_id, referral_id, mentor_id, org_id, occurred_at, visitor_hash, ip_hash)
       VALUES ($1, $2, $3, $4, $5, now(), $6, $7)`,
      [randomUUID(), org.codes[mentor], id, mentor, org.orgId, visitorHash, ipHash],
    );
  }
  return id;
}

test("a mentor's accounts from the referral's device or one of its addresses count once each, and no one else's", async () => {
  const mentor = randomUUID();
  const otherMentor = randomUUID();
  const org = await organisationWithMentors(pool, [mentor, otherMentor]);
  // The same user id in another organisation is another person.
  const elsewhere = await organisationWithMentors(pool, [mentor]);
  const tag = randomUUID();
  const [device, address] = [`device-${tag}`, `ip-${tag}`];
  const target = await referral(org, mentor, device, [address, `ip-own-${tag}`]);
  // Counted: the same device, the same address, and both (once).
  await referral(org, mentor, device, [`ip-a-${tag}`]);
  await referral(org, mentor, `device-b-${tag}`, [address]);
  await referral(org, mentor, device, [address, address]);
  // Not counted: no account yet, another mentor, another organisation, another device and address.
  await referral(org, mentor, `device-c-${tag}`, [address], false);
  await referral(org, otherMentor, device, [address]);
  await referral(elsewhere, mentor, device, [address]);
  await referral(org, mentor, `device-d-${tag}`, [`ip-d-${tag}`]);

  const store = createReferralStore(pool);
  const accounts = (visitorHash: string | null) => store.accountsFromSameDevice({ referralId: target, orgId: org.orgId, mentorId: mentor, visitorHash });
  expect(await accounts(device)).toBe(3);
  // Without a device hash only the shared address counts.
  expect(await accounts(null)).toBe(2);
});
