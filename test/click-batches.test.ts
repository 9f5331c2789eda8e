import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { createIntakeStore, type ClickToTake } from '../src/db/intake';
import { createPool } from '../src/db/pool';
import { nameBasedUuid, referralWorkflowId } from '../src/services/identifiers';
import { eventually } from './support/harness';

const pool = createPool(process.env.TEST_DATABASE_URL!, () => undefined);
afterAll(() => pool.end());

/** A queue no worker serves: what the statement takes stays in the intake to be read. */
const QUEUE = 'click-batches-test';

async function newCode(defaultChannel: string | null = null) {
  const [orgId, mentorId, codeId] = [randomUUID(), randomUUID(), randomUUID()];
  const code = `cb${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  await pool.query("INSERT INTO organisations (id, name) VALUES ($1, 'Batch Org')", [orgId]);
  await pool.query("INSERT INTO users (id, org_id, role, display_name) VALUES ($1, $2, 'peer_mentor', 'Batch Mentor')", [mentorId, orgId]);
  await pool.query('INSERT INTO referral_codes (id, code, mentor_id, org_id, default_channel) VALUES ($1, $2, $3, $4, $5)', [codeId, code, mentorId, orgId, defaultChannel]);
  return { code, codeId, orgId, mentorId };
}

const click = (code: string, network: string, overrides: Partial<ClickToTake> = {}): ClickToTake => ({
  code,
  visitorHash: randomUUID(),
  network,
  at: new Date(),
  message: { clickId: randomUUID(), occurredAt: new Date().toISOString(), ipHash: null, userAgent: null, metadata: {} },
  viaLanding: false,
  takeHere: true,
  ...overrides,
});

const intakeRowsOf = async (clickIds: string[]) =>
  (
    await pool.query(
      `SELECT task_queue, kind, referral_id, workflow_id, referral_code_id, org_id, visitor_hash, message FROM intake
       WHERE message ->> 'clickId' = ANY($1) ORDER BY id`,
      [clickIds],
    )
  ).rows;

test('clicks in one statement are counted against their limits in order, as one at a time would be, and only those allowed are taken', async () => {
  const intake = createIntakeStore(pool);
  const { code } = await newCode();
  const [networkA, networkB] = [`192.0.2.${Math.floor(Math.random() * 250)}-${randomUUID()}`, `198.51.100.7-${randomUUID()}`];
  const limits = { perNetwork: 3, perCode: 4 };
  const batch = [networkA, networkB, networkA, networkA, networkA, networkB, networkB].map((network) => click(code, network));
  const taken = await intake.takeClicks(QUEUE, batch, 30, limits);
  // A's fourth is over its network's limit and takes nothing of the code's; B's second is the code's fifth.
  expect(taken.map((result) => result.limit.over)).toEqual([false, false, false, false, true, true, true]);
  expect(taken.map((result) => result.code?.code ?? null)).toEqual([code, code, code, code, null, null, null]);
  expect(taken.map((result) => result.taken)).toEqual([true, true, true, true, false, false, false]);
  expect(taken.every((result) => result.limit.resetsInMs > 0 && result.limit.resetsInMs <= 60_000)).toBe(true);
  expect((await intakeRowsOf(batch.map((each) => each.message.clickId))).map((row) => row.message.clickId)).toEqual(batch.slice(0, 4).map((each) => each.message.clickId));
  const counters = await pool.query<{ key: string; points: number }>('SELECT key, points FROM rate_limits WHERE key = ANY($1) ORDER BY points', [
    [`ip:${networkA}`, `ip:${networkB}`, `code:${code}`],
  ]);
  expect(counters.rows).toEqual([
    { key: `ip:${networkB}`, points: 3 },
    { key: `ip:${networkA}`, points: 4 },
    { key: `code:${code}`, points: 6 },
  ]);
  // The next statement goes on from where this one left the counters.
  expect((await intake.takeClicks(QUEUE, [click(code, `${networkB}-other`)], 30, limits)).map((result) => [result.limit.over, result.taken])).toEqual([[true, false]]);
  const [unknown] = await intake.takeClicks(QUEUE, [click(`none${randomUUID()}`, `${networkA}-other`)], 30, limits);
  expect([unknown.limit.over, unknown.code, unknown.taken]).toEqual([false, undefined, false]);
});

test('a batch whose statement fails counts nothing against the limits: its retry is counted once', async () => {
  const intake = createIntakeStore(pool);
  const { code } = await newCode();
  const network = `192.0.2.9-${randomUUID()}`;
  const limits = { perNetwork: 100, perCode: 100 };
  const pointsOf = async (key: string) => (await pool.query<{ points: number }>('SELECT points FROM rate_limits WHERE key = $1', [key])).rows[0]?.points;
  const batch = [click(code, network), click(code, network)];
  const blocker = await pool.connect();
  try {
    await blocker.query('BEGIN');
    // No click can be taken while this is held.
    await blocker.query('LOCK TABLE intake IN SHARE MODE');
    const blockerPid = (await blocker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    const failed = intake.takeClicks(QUEUE, batch, 30, limits).then(
      () => 'taken',
      (error: Error) => error.message,
    );
    const waiting = await eventually(
      async () => (await pool.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))', [blockerPid])).rows[0]?.pid,
      10_000,
      'the batch waiting for the intake',
    );
    await pool.query('SELECT pg_cancel_backend($1)', [waiting]);
    expect(await failed).toBe('canceling statement due to user request');
    await blocker.query('COMMIT');
    expect([await pointsOf(`ip:${network}`), await pointsOf(`code:${code}`)]).toEqual([undefined, undefined]);
    expect((await intake.takeClicks(QUEUE, batch, 30, limits)).map((result) => result.taken)).toEqual([true, true]);
    expect([await pointsOf(`ip:${network}`), await pointsOf(`code:${code}`)]).toEqual([2, 2]);
  } finally {
    // Left open only when the test failed.
    await blocker.query('ROLLBACK');
    blocker.release();
  }
});

test('a taken click is the intake row the service would write: its referral named as the service names it, the checks decided', async () => {
  const intake = createIntakeStore(pool);
  const { code, codeId, orgId } = await newCode('whatsapp');
  const limits = { perNetwork: 1_000, perCode: 1_000 };
  const network = `203.0.113.1-${randomUUID()}`;
  const fromLink = click(code, network, { message: { ...click(code, network).message, metadata: { platform: 'ios' } } });
  const fromLanding = click(code, network, { viaLanding: true, message: { ...click(code, network).message, metadata: { shareChannel: 'sms', campaign: 'spring' } } });
  const landingDefault = click(code, network, { viaLanding: true });
  const [link, landing, defaulted] = await intake.takeClicks(QUEUE, [fromLink, fromLanding, landingDefault], 30, limits);
  expect([link.taken, landing.taken, defaulted.taken]).toEqual([true, true, true]);
  const rows = await intakeRowsOf([fromLink, fromLanding, landingDefault].map((each) => each.message.clickId));
  const expected = (taken: ClickToTake, metadata: Record<string, unknown>) => {
    const workflowId = referralWorkflowId(codeId, taken.visitorHash);
    return {
      task_queue: QUEUE,
      kind: 'click',
      referral_id: nameBasedUuid(workflowId),
      workflow_id: workflowId,
      referral_code_id: codeId,
      org_id: orgId,
      visitor_hash: taken.visitorHash,
      message: { ...taken.message, metadata, selfReferral: false, burst: false },
    };
  };
  expect(rows).toEqual([
    expected(fromLink, { platform: 'ios' }),
    expected(fromLanding, { shareChannel: 'sms', campaign: 'spring', via: 'landing' }),
    expected(landingDefault, { shareChannel: 'whatsapp', via: 'landing' }),
  ]);
  expect(landing.message).toEqual(rows[1].message);
});

test('a busy minute is a burst decided in the statement when the week is known; unknown, or a click to be checked by the service, is looked up only', async () => {
  const intake = createIntakeStore(pool);
  const { code } = await newCode();
  const limits = { perNetwork: 1_000, perCode: 1_000 };
  const network = `203.0.113.2-${randomUUID()}`;
  // Two clicks in the minute reach a threshold of 2.
  await intake.takeClicks(QUEUE, [click(code, network), click(code, network)], 2, limits);
  const [unknownWeek, quietWeek, busyWeek, checkedByService] = await intake.takeClicks(
    QUEUE,
    [click(code, network), click(code, network, { burstNeeded: 2 }), click(code, network, { burstNeeded: 3 }), click(code, network, { burstNeeded: 2, takeHere: false })],
    2,
    limits,
  );
  expect([unknownWeek.taken, unknownWeek.message.burst, unknownWeek.code?.clicks_last_minute]).toEqual([false, null, 2]);
  // Two clicks make a burst when the code's week asks no more than the threshold; when it asks for three, not yet.
  expect([quietWeek.taken, quietWeek.message.burst]).toEqual([true, true]);
  expect([busyWeek.taken, busyWeek.message.burst, busyWeek.code?.clicks_last_minute]).toEqual([true, false, 2]);
  expect([checkedByService.taken, checkedByService.message.burst]).toEqual([false, true]);
});

test('a referral id named in SQL is the one the service names', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.string({ unit: 'grapheme', maxLength: 80 }).filter((name) => !name.includes('\u0000')), { minLength: 1, maxLength: 50 }), async (names) => {
      const result = await pool.query<{ id: string }>('SELECT referral_uuid(name)::text AS id FROM unnest($1::text[]) WITH ORDINALITY AS x(name, n) ORDER BY n', [names]);
      expect(result.rows.map((row) => row.id)).toEqual(names.map(nameBasedUuid));
    }),
    { numRuns: 20 },
  );
});

test('many statements at once counting the same keys all finish, and count every click once', async () => {
  const intake = createIntakeStore(pool);
  const [first, second] = [(await newCode()).code, (await newCode()).code];
  const networks = Array.from({ length: 5 }, () => `203.0.113.9-${randomUUID()}`);
  const batches = Array.from({ length: 40 }, (_, index) => Array.from({ length: 10 }, (__, item) => click((index + item) % 2 ? first : second, networks[(index * 7 + item) % 5])));
  const limits = { perNetwork: 1_000, perCode: 1_000 };
  const results = (await Promise.all(batches.map((batch) => intake.takeClicks(QUEUE, batch, 1_000, limits)))).flat();
  expect(results.filter((result) => result.taken)).toHaveLength(400);
  const counted = await pool.query<{ total: string }>('SELECT sum(points)::text AS total FROM rate_limits WHERE key = ANY($1)', [networks.map((network) => `ip:${network}`)]);
  expect(counted.rows[0].total).toBe('400');
});

test('the dispatchers are woken by a statement that took a click, not by one whose clicks were all refused', async () => {
  const intake = createIntakeStore(pool);
  const { code } = await newCode();
  const listener = await pool.connect();
  const heard: string[] = [];
  listener.on('notification', (notification) => heard.push(notification.channel));
  try {
    await intake.listen(listener);
    const network = `203.0.113.3-${randomUUID()}`;
    const refused = await intake.takeClicks(QUEUE, [click(code, network), click(`none${randomUUID()}`, `${network}-other`)], 30, { perNetwork: 0, perCode: 1_000 });
    expect(refused.map((result) => result.taken)).toEqual([false, false]);
    // A notification is sent when its transaction commits; one that came would be here before the next round trip ends.
    await pool.query('SELECT pg_sleep(0.2)');
    expect(heard).toEqual([]);
    await intake.takeClicks(QUEUE, [click(code, `${network}-taken`)], 30, { perNetwork: 1_000, perCode: 1_000 });
    await pool.query('SELECT pg_sleep(0.2)');
    expect(heard).toEqual(['intake']);
  } finally {
    await listener.query('UNLISTEN intake');
    listener.release();
  }
});

test('a step, and clicks the service checked, wake the dispatchers too', async () => {
  const intake = createIntakeStore(pool);
  const { code, codeId, orgId } = await newCode();
  const listener = await pool.connect();
  const heard: string[] = [];
  listener.on('notification', (notification) => heard.push(notification.channel));
  try {
    await intake.listen(listener);
    const checked = click(code, `203.0.113.4-${randomUUID()}`);
    const workflowId = referralWorkflowId(codeId, checked.visitorHash);
    const address = { taskQueue: QUEUE, referralId: nameBasedUuid(workflowId), workflowId, referralCodeId: codeId, orgId, visitorHash: checked.visitorHash };
    await intake.takeCheckedClicks([{ address, message: { ...checked.message, selfReferral: false, burst: false } }]);
    await pool.query('SELECT pg_sleep(0.2)');
    expect(heard).toEqual(['intake']);
    await intake.takeStep(address, { type: 'installed', occurredAt: new Date().toISOString(), idempotencyKey: 'installed' });
    await pool.query('SELECT pg_sleep(0.2)');
    expect(heard).toEqual(['intake', 'intake']);
  } finally {
    await listener.query('UNLISTEN intake');
    listener.release();
  }
});

test('on a pool with generic plans the click statement is planned once per connection, not at every call', async () => {
  const plansOf = async (options: Parameters<typeof createPool>[3]) => {
    // One connection, so the statement's every call and the count below share it.
    const single = createPool(process.env.TEST_DATABASE_URL!, () => undefined, 1, options);
    try {
      const { code } = await newCode();
      const intake = createIntakeStore(single);
      for (let call = 0; call < 7; call += 1) await intake.takeClicks(QUEUE, [click(code, `203.0.113.${call}-${randomUUID()}`)], 30, { perNetwork: 10, perCode: 100 });
      const { rows } = await single.query<{ generic_plans: number; custom_plans: number }>(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = 'intake.take-clicks'",
      );
      return rows;
    } finally {
      await single.end();
    }
  };
  // Left to itself Postgres keeps planning it for each call's values.
  expect(await plansOf({})).toEqual([{ generic_plans: 0, custom_plans: 7 }]);
  expect(await plansOf({ genericPlans: true })).toEqual([{ generic_plans: 7, custom_plans: 0 }]);
});
