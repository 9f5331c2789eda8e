import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { SignJWT } from 'jose';
import { signPayload } from '../src/api/webhook-signature';
import { createPool } from '../src/db/pool';
import {
  BENCH_SECRETS,
  runBench,
  log,
  machine,
  round,
  seedCode,
  startApi,
  startBenchStack,
  startWorkerProcess,
  waitFor,
  type BenchStack,
  type ChildService,
} from './support';

const SHORT = process.argv.includes('--short');
const JOURNEYS = SHORT ? 60 : 500;
const CONCURRENCY = 8;
const MILESTONES = [1, 5, 10, 25, 50];

interface Drill {
  name: string;
  faults: string;
  during?: (context: DrillContext) => Promise<void>;
  webhookPlan?: (index: number) => { copies: number; delayMs: number };
  badgeFailsForMs?: number;
}

interface DrillContext {
  stack: BenchStack;
  restartWorker(): Promise<void>;
  killWorker(): void;
  done: () => boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A client that retries like the app and the membership system do: until the request is accepted. */
async function send(url: string, init: RequestInit, counters: { retries: number }): Promise<Response> {
  for (;;) {
    try {
      const response = await fetch(url, init);
      if (response.status < 500 && response.status !== 429) return response;
    } catch {
      // connection refused while a process restarts
    }
    counters.retries += 1;
    await sleep(500);
  }
}

async function runDrill(stack: BenchStack, api: { url: string }, drill: Drill, badge: BadgeService) {
  const { code, mentorId, orgId } = await seedCode(stack.databaseUrl);
  let worker: ChildService = startWorkerProcess(stack, { BADGE_SERVICE_URL: badge.url });
  const counters = { retries: 0, webhookDeliveries: 0 };
  let finished = false;
  const context: DrillContext = {
    stack,
    killWorker: () => worker.kill('SIGKILL'),
    async restartWorker() {
      worker.kill('SIGKILL');
      await worker.exited;
      worker = startWorkerProcess(stack, { BADGE_SERVICE_URL: badge.url });
    },
    done: () => finished,
  };
  badge.failUntil = drill.badgeFailsForMs ? Date.now() + drill.badgeFailsForMs : 0;
  badge.reset();
  const faults = drill.during?.(context) ?? Promise.resolve();
  const late: Array<Promise<unknown>> = [];
  const pool = createPool(stack.databaseUrl, () => undefined);
  const started = Date.now();
  const members: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < JOURNEYS) {
        const index = next++;
        const member = randomUUID();
        members.push(member);
        // Each journey is another person: their own device and network address (a header only; all traffic stays on loopback).
        const person = { 'x-forwarded-for': `198.51.${Math.floor(index / 250) % 256}.${index % 250}` };
        const clicked = (await (
          await send(`${api.url}/api/v1/referral-attributions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...person },
            body: JSON.stringify({ code, visitorId: `drill-${index}-${randomUUID()}` }),
          }, counters)
        ).json()) as { referralId: string; referralToken: string };
        await send(`${api.url}/api/v1/referrals/${clicked.referralId}/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${clicked.referralToken}`, ...person },
          body: JSON.stringify({ type: 'account_created', idempotencyKey: `acct-${index}`, newMemberId: member }),
        }, counters);
        // The webhook follows the app's report at once, usually before the worker has recorded it: the
        // referral is found by the app's member link, not by the row the worker writes.
        const body = JSON.stringify({ event: 'member.registered', referralCode: code, newMemberId: member, occurredAt: new Date().toISOString(), deliveryId: `d-${index}` });
        const deliver = async () => {
          const at = Math.floor(Date.now() / 1000);
          counters.webhookDeliveries += 1;
          await send(`${api.url}/api/v1/webhooks/membership`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-signature': `t=${at},v1=${signPayload(BENCH_SECRETS.MEMBERSHIP_WEBHOOK_SECRET, at, body)}` },
            body,
          }, counters);
        };
        const plan = drill.webhookPlan?.(index) ?? { copies: 1, delayMs: 0 };
        const deliveries = Array.from({ length: plan.copies }, deliver);
        if (plan.delayMs > 0) late.push(sleep(plan.delayMs).then(() => Promise.all(Array.from({ length: plan.copies }, deliver))));
        else await Promise.all(deliveries);
      }
    }),
  );
  await Promise.all(late);
  finished = true;
  await faults;
  const token = await new SignJWT({ role: 'org_admin', org_id: orgId })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(randomUUID())
    .sign(new TextEncoder().encode(BENCH_SECRETS.JWT_SECRET));
  const expectedMilestones = MILESTONES.filter((milestone) => milestone <= JOURNEYS);
  const counts = await waitFor(
    async () => {
      const response = await fetch(`${api.url}/api/v1/referral-attributions/mentor/${mentorId}/counts`, { headers: { authorization: `Bearer ${token}` } });
      const body = (await response.json()) as { totalClicks: number; pendingAttributions: number; confirmedAttributions: number };
      const delivered = badge.deliveredMilestones(mentorId);
      return body.confirmedAttributions >= JOURNEYS && delivered.length >= expectedMilestones.length ? body : undefined;
    },
    15 * 60_000,
    `${drill.name}: every journey confirmed and every badge delivered`,
  ).catch(async () => {
    const response = await fetch(`${api.url}/api/v1/referral-attributions/mentor/${mentorId}/counts`, { headers: { authorization: `Bearer ${token}` } });
    return (await response.json()) as { totalClicks: number; pendingAttributions: number; confirmedAttributions: number };
  });
  // Let any stray duplicate arrive before counting them.
  await sleep(3000);
  const confirmedPerMember = await pool.query(
    `SELECT count(*) FILTER (WHERE n = 1) AS once, count(*) FILTER (WHERE n > 1) AS more
     FROM (SELECT new_member_id, count(*) AS n FROM referrals WHERE mentor_id = $1 AND status = 'confirmed' GROUP BY 1) per_member`,
    [mentorId],
  );
  await pool.end();
  const delivered = badge.deliveredMilestones(mentorId);
  const result = {
    drill: drill.name,
    faults: drill.faults,
    journeys: JOURNEYS,
    seconds: round((Date.now() - started) / 1000),
    clientRetries: counters.retries,
    webhookDeliveries: counters.webhookDeliveries,
    counts,
    lost: JOURNEYS - Number(confirmedPerMember.rows[0].once) - Number(confirmedPerMember.rows[0].more),
    duplicated: Number(confirmedPerMember.rows[0].more) + (counts.confirmedAttributions - JOURNEYS > 0 ? counts.confirmedAttributions - JOURNEYS : 0),
    badgesDelivered: delivered,
    badgeDuplicates: delivered.length - new Set(delivered).size,
    badgeFailuresAnswered: badge.failedCalls,
  };
  worker.kill('SIGTERM');
  await worker.exited;
  log(JSON.stringify(result));
  return result;
}

interface BadgeService {
  url: string;
  failUntil: number;
  failedCalls: number;
  reset(): void;
  deliveredMilestones(mentorId: string): number[];
  close(): Promise<void>;
}

async function startBadgeService(): Promise<BadgeService> {
  const delivered: Array<{ mentorId: string; milestone: number }> = [];
  const service: BadgeService = {
    url: '',
    failUntil: 0,
    failedCalls: 0,
    reset() {
      service.failedCalls = 0;
    },
    deliveredMilestones: (mentorId) => delivered.filter((award) => award.mentorId === mentorId).map((award) => award.milestone).sort((a, b) => a - b),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk) => (raw += chunk));
    req.on('end', () => {
      if (Date.now() < service.failUntil) {
        service.failedCalls += 1;
        res.writeHead(500).end();
        return;
      }
      const award = JSON.parse(raw) as { mentorId: string; milestone: number };
      delivered.push({ mentorId: award.mentorId, milestone: award.milestone });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  service.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/awards`;
  return service;
}

const scale = SHORT ? 1 / 3 : 1;

const DRILLS: Drill[] = [
  {
    name: 'kill -9 the worker',
    faults: 'the worker process group killed with SIGKILL every 3-8 s and restarted at once',
    async during(context) {
      let kills = 0;
      while (!context.done()) {
        await sleep(3000 + Math.random() * 5000);
        if (context.done()) break;
        await context.restartWorker();
        kills += 1;
      }
      log(`worker killed ${kills} times`);
    },
  },
  {
    name: 'restart Temporal',
    faults: 'the Temporal dev server stopped and started again on the same SQLite file mid-run',
    async during(context) {
      await sleep(8000 * scale);
      await context.stack.restartTemporal();
      await context.restartWorker();
    },
  },
  {
    name: 'Postgres down',
    faults: `Postgres stopped for ${Math.round(30 * scale)} s mid-run, then started again`,
    async during(context) {
      await sleep(5000 * scale);
      await context.stack.stopPostgres();
      await sleep(30_000 * scale);
      await context.stack.startPostgres();
    },
  },
  {
    name: 'badge service failing',
    faults: `the badge service answering 500 for the first ${Math.round(60 * scale)} s`,
    badgeFailsForMs: 60_000 * scale,
  },
  {
    name: 'webhooks twice, out of order, late',
    faults: 'every webhook delivered twice at once; every fifth one 10 s late (10 minutes scaled), so they arrive out of order',
    webhookPlan: (index) => ({ copies: 2, delayMs: index % 5 === 0 ? 10_000 : 0 }),
  },
];

async function main(): Promise<string> {
  const stack = await startBenchStack();
  const badge = await startBadgeService();
  const api = await startApi(stack, { COUNTS_CACHE_SECONDS: '0' });
  const results = [];
  try {
    for (const drill of DRILLS) results.push(await runDrill(stack, api, drill, badge));
  } finally {
    api.kill('SIGTERM');
    await api.exited;
    await badge.close();
    await stack.stop();
  }
  const rows = results.map(
    (r) =>
      `| ${r.drill} | ${r.faults} | ${r.journeys} | ${r.seconds} s | ${r.counts.totalClicks} / ${r.counts.pendingAttributions} / ${r.counts.confirmedAttributions} | ${r.lost} | ${r.duplicated} | ${r.badgesDelivered.join(', ')} (${r.badgeDuplicates} twice) | ${r.clientRetries} |`,
  );
  const section = `## Fault drills (${SHORT ? 'short' : 'full'}), ${new Date().toISOString().slice(0, 16)}Z

Command: \`npm run drills${SHORT ? ' -- --short' : ''}\`. Machine: ${machine()}. Temporal dev server on SQLite, embedded Postgres,
the API and one worker as separate processes. Each journey: click, account created, membership webhook.
Counts are read from the API (cache off) after the run and must equal the journeys driven.

| drill | faults injected | journeys | time | API clicks / pending / confirmed | lost | duplicated | badges delivered | client retries |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}
`;
  return section;
}

runBench(`drills-${SHORT ? 'short' : 'full'}`, main);
