import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { Pool } from 'pg';
import { createPool } from '../src/db/pool';
import { bucketBounds } from '../src/domain/conversion-time';
import { aggregateRows, recounted } from './support/aggregates';
import { FUNNEL_STAGES } from '../src/domain/funnel';
import { ATTRIBUTION_STATUSES } from '../src/domain/funnel';

// The dashboard's daily aggregates are kept by triggers; after any sequence of writes they equal a full recount.
let pool: Pool;

beforeAll(() => {
  pool = createPool(process.env.TEST_DATABASE_URL!, () => undefined);
});

afterAll(async () => {
  await pool.end();
});

const DAY_MS = 86_400_000;
const BASE = Date.parse('2026-10-01T00:00:00Z');

type Write =
  | { type: 'click'; referral: number; dayOffset: number; hour: number; channel: string | null; duplicate: boolean }
  | { type: 'advance'; referral: number; stage: number; status: string; accountDay: number | null; confirmedDay: number | null }
  | { type: 'deleteClick'; nth: number }
  | { type: 'firstClickAt'; referral: number; dayOffset: number }
  | { type: 'deleteReferral'; referral: number };

const writes = fc.array(
  fc.oneof(
    fc.record({
      type: fc.constant('click' as const),
      referral: fc.nat(5),
      dayOffset: fc.nat(9),
      hour: fc.nat(23),
      channel: fc.constantFrom(null, 'whatsapp', 'sms', 'qr'),
      duplicate: fc.boolean(),
    }),
    fc.record({
      type: fc.constant('advance' as const),
      referral: fc.nat(5),
      stage: fc.nat(FUNNEL_STAGES.length - 1),
      status: fc.constantFrom(...ATTRIBUTION_STATUSES),
      accountDay: fc.option(fc.nat(12)),
      confirmedDay: fc.option(fc.nat(15)),
    }),
    fc.record({ type: fc.constant('deleteClick' as const), nth: fc.nat(20) }),
    // An earlier click delivered late moves the referral's first click, and its cohort day.
    fc.record({ type: fc.constant('firstClickAt' as const), referral: fc.nat(5), dayOffset: fc.nat(9) }),
    fc.record({ type: fc.constant('deleteReferral' as const), referral: fc.nat(5) }),
  ),
  { maxLength: 40 },
);

async function seedOrg() {
  const orgId = randomUUID();
  const mentors = [randomUUID(), randomUUID()];
  await pool.query('INSERT INTO organisations (id) VALUES ($1)', [orgId]);
  for (const mentor of mentors) await pool.query("INSERT INTO users (id, org_id, role) VALUES ($1, $2, 'peer_mentor')", [mentor, orgId]);
  const codes = [];
  for (const [index, mentor] of [mentors[0], mentors[0], mentors[1]].entries()) {
    const id = randomUUID();
    await pool.query('INSERT INTO referral_codes (id, code, mentor_id, org_id, campaign) VALUES ($1, $2, $3, $4, $5)', [id, `agg${randomUUID().slice(0, 8)}${index}`, mentor, orgId, index === 1 ? 'fair' : null]);
    codes.push({ id, mentor });
  }
  return { orgId, codes };
}

async function apply(orgId: string, codes: Array<{ id: string; mentor: string }>, referralIds: string[], write: Write) {
  const referralId = 'referral' in write ? referralIds[write.referral] : undefined;
  const exists = referralId ? ((await pool.query('SELECT 1 FROM referrals WHERE id = $1', [referralId])).rowCount ?? 0) > 0 : false;
  const code = codes[('referral' in write ? write.referral : 0) % codes.length];
  if (write.type === 'click') {
    const at = new Date(BASE + write.dayOffset * DAY_MS + write.hour * 3_600_000);
    if (!exists) {
      await pool.query(
        `INSERT INTO referrals (id, org_id, referral_code_id, mentor_id, workflow_id, stage, status, clicked_at, last_click_at)
         VALUES ($1, $2, $3, $4, $5, 'clicked', 'pending', $6, $6)`,
        [referralId, orgId, code.id, code.mentor, `agg-${referralId}`, at],
      );
    }
    await pool.query(
      `INSERT INTO click_events (id, referral_code_id, referral_id, mentor_id, org_id, occurred_at, device_metadata, is_duplicate)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [randomUUID(), code.id, referralId, code.mentor, orgId, at, write.channel ? { shareChannel: write.channel } : {}, write.duplicate],
    );
  } else if (write.type === 'advance' && exists) {
    await pool.query(
      `UPDATE referrals SET stage = $2, status = $3,
         account_created_at = CASE WHEN $4::int IS NULL THEN NULL ELSE clicked_at + ($4::int || ' days')::interval END,
         confirmed_at = CASE WHEN $5::int IS NULL THEN NULL ELSE clicked_at + ($5::int || ' days')::interval END
       WHERE id = $1`,
      [referralId, FUNNEL_STAGES[write.stage], write.status, write.accountDay, write.confirmedDay],
    );
  } else if (write.type === 'firstClickAt' && exists) {
    await pool.query('UPDATE referrals SET clicked_at = $2 WHERE id = $1', [referralId, new Date(BASE + write.dayOffset * DAY_MS)]);
  } else if (write.type === 'deleteClick') {
    await pool.query('DELETE FROM click_events WHERE id = (SELECT id FROM click_events WHERE org_id = $1 ORDER BY id OFFSET $2 LIMIT 1)', [orgId, write.nth]);
  } else if (write.type === 'deleteReferral' && exists) {
    await pool.query('DELETE FROM click_events WHERE referral_id = $1', [referralId]);
    await pool.query('DELETE FROM referral_events WHERE referral_id = $1', [referralId]);
    await pool.query('DELETE FROM referrals WHERE id = $1', [referralId]);
  }
}

test('after any sequence of clicks, advances, status changes and deletions, the aggregates equal a full recount', async () => {
  await fc.assert(
    fc.asyncProperty(writes, async (sequence) => {
      const { orgId, codes } = await seedOrg();
      const referralIds = Array.from({ length: 6 }, () => randomUUID());
      for (const write of sequence) await apply(orgId, codes, referralIds, write);
      expect(await aggregateRows(pool, orgId)).toEqual(await recounted(pool, orgId));
    }),
    { numRuns: 60 },
  );
});

test('a recount of a known journey gives the figures by hand', async () => {
  const { orgId, codes } = await seedOrg();
  const [referralId] = [randomUUID()];
  await apply(orgId, codes, [referralId], { type: 'click', referral: 0, dayOffset: 0, hour: 9, channel: 'whatsapp', duplicate: false });
  await apply(orgId, codes, [referralId], { type: 'click', referral: 0, dayOffset: 1, hour: 9, channel: 'sms', duplicate: false });
  await apply(orgId, codes, [referralId], { type: 'click', referral: 0, dayOffset: 1, hour: 10, channel: 'sms', duplicate: true });
  await apply(orgId, codes, [referralId], { type: 'advance', referral: 0, stage: 2, status: 'confirmed', accountDay: 2, confirmedDay: 3 });
  const rows = await aggregateRows(pool, orgId);
  const [code] = codes;
  expect(rows.cohorts).toEqual([
    { day: '2026-10-01', mentor_id: code.mentor, referral_code_id: code.id, referrals: 1, installed: 1, account_created: 1, first_login: 0, confirmed: 1 },
  ]);
  expect(rows.conversions).toEqual([
    // Three days from the first click to the confirmation: the 3-days-to-a-week range's first bucket.
    { day: '2026-10-04', mentor_id: code.mentor, referral_code_id: code.id, bucket: 300, confirmed: 1 },
  ]);
  expect(rows.events).toEqual([
    { day: '2026-10-01', mentor_id: code.mentor, referral_code_id: code.id, channel: 'whatsapp', clicks: 1, accounts: 0, confirmed: 0 },
    { day: '2026-10-02', mentor_id: code.mentor, referral_code_id: code.id, channel: 'sms', clicks: 1, accounts: 0, confirmed: 0 },
    { day: '2026-10-03', mentor_id: code.mentor, referral_code_id: code.id, channel: '', clicks: 0, accounts: 1, confirmed: 0 },
    // The confirmation counts under the channel of the referral's first click.
    { day: '2026-10-04', mentor_id: code.mentor, referral_code_id: code.id, channel: 'whatsapp', clicks: 0, accounts: 0, confirmed: 1 },
  ]);
});

test("a time to convert falls in the bucket whose bounds src/db/reads.ts reads, and the ranges' edges in the right range", async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: 400 * 86_400_000 }).map((ms) => ms / 1000), async (seconds) => {
      const { rows } = await pool.query<{ bucket: number }>('SELECT conversion_bucket($1) AS bucket', [seconds]);
      const [low, high] = bucketBounds(rows[0].bucket);
      // Within a rounding of the logarithms at a bucket's edge.
      expect(seconds).toBeGreaterThanOrEqual(low * (1 - 1e-9));
      expect(seconds).toBeLessThan(high * (1 + 1e-9));
    }),
    { numRuns: 300 },
  );
  const edges = await pool.query<{ bucket: number }>('SELECT conversion_bucket(s) AS bucket FROM unnest($1::float8[]) s', [[0, 3599.9, 3600, 86_400, 3 * 86_400, 7 * 86_400, 14 * 86_400, 30 * 86_400, -5]]);
  expect(edges.rows.map((row) => row.bucket)).toEqual([0, 99, 100, 200, 300, 400, 500, 600, 0]);
});
