import { randomUUID } from 'node:crypto';
import { createCodeStore } from '../src/db/codes';
import { createPool } from '../src/db/pool';

const pool = createPool(process.env.TEST_DATABASE_URL!, () => undefined);
afterAll(() => pool.end());

async function newCode() {
  const [orgId, mentorId] = [randomUUID(), randomUUID()];
  const code = `cb${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  await pool.query("INSERT INTO organisations (id, name) VALUES ($1, 'Batch Org')", [orgId]);
  await pool.query("INSERT INTO users (id, org_id, role, display_name) VALUES ($1, $2, 'peer_mentor', 'Batch Mentor')", [mentorId, orgId]);
  await pool.query('INSERT INTO referral_codes (id, code, mentor_id, org_id) VALUES ($1, $2, $3, $4)', [randomUUID(), code, mentorId, orgId]);
  return code;
}

test('clicks looked up in one statement are counted against their limits in order, as one at a time would be', async () => {
  const codes = createCodeStore(pool);
  const code = await newCode();
  const [networkA, networkB] = [`192.0.2.${Math.floor(Math.random() * 250)}-${randomUUID()}`, `198.51.100.7-${randomUUID()}`];
  const click = (network: string) => ({ code, visitorHash: randomUUID(), network, at: new Date() });
  const limits = { perNetwork: 3, perCode: 4 };
  const batch = [click(networkA), click(networkB), click(networkA), click(networkA), click(networkA), click(networkB), click(networkB)];
  const looked = await codes.forClicks(batch, 30, limits);
  // A's fourth is over its network's limit and takes nothing of the code's; B's second is the code's fifth.
  expect(looked.map((result) => result.limit.over)).toEqual([false, false, false, false, true, true, true]);
  expect(looked.map((result) => result.code?.code ?? null)).toEqual([code, code, code, code, null, null, null]);
  expect(looked.every((result) => result.limit.resetsInMs > 0 && result.limit.resetsInMs <= 60_000)).toBe(true);
  const counters = await pool.query<{ key: string; points: number }>('SELECT key, points FROM rate_limits WHERE key = ANY($1) ORDER BY points', [
    [`ip:${networkA}`, `ip:${networkB}`, `code:${code}`],
  ]);
  expect(counters.rows).toEqual([
    { key: `ip:${networkB}`, points: 3 },
    { key: `ip:${networkA}`, points: 4 },
    { key: `code:${code}`, points: 6 },
  ]);
  // The next statement goes on from where this one left the counters.
  expect((await codes.forClicks([click(`${networkB}-other`)], 30, limits)).map((result) => result.limit.over)).toEqual([true]);
  const [unknown] = await codes.forClicks([{ ...click(`${networkA}-other`), code: `none${randomUUID()}` }], 30, limits);
  expect(unknown.limit.over).toBe(false);
  expect(unknown.code).toBeUndefined();
});

test('many statements at once counting the same keys all finish, and count every click once', async () => {
  const codes = createCodeStore(pool);
  const [first, second] = [await newCode(), await newCode()];
  const networks = Array.from({ length: 5 }, () => `203.0.113.9-${randomUUID()}`);
  const batches = Array.from({ length: 40 }, (_, index) =>
    Array.from({ length: 10 }, (__, item) => ({ code: (index + item) % 2 ? first : second, visitorHash: randomUUID(), network: networks[(index * 7 + item) % 5], at: new Date() })),
  );
  const limits = { perNetwork: 1_000, perCode: 1_000 };
  const results = (await Promise.all(batches.map((batch) => codes.forClicks(batch, 30, limits)))).flat();
  expect(results.filter((result) => !result.limit.over && result.code)).toHaveLength(400);
  const counted = await pool.query<{ total: string }>('SELECT sum(points)::text AS total FROM rate_limits WHERE key = ANY($1)', [networks.map((network) => `ip:${network}`)]);
  expect(counted.rows[0].total).toBe('400');
});
