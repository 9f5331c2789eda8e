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
  TEMPORAL_ON_POSTGRES,
  spawnTsx,
  startWorkerProcess,
  waitFor,
  type BenchStack,
  type ChildService,
} from './support';

const SHORT = process.argv.includes('--short');
/** --only=<part of a drill's name>, e.g. --only=Postgres */
const only = process.argv.find((arg) => arg.startsWith('--only='))?.slice('--only='.length);
const JOURNEYS = SHORT ? 60 : 500;
/** New journeys per second: a campaign's steady stream, below what the dev server here sustains. */
const ARRIVALS_PER_SECOND = SHORT ? 4 : 8;
const MILESTONES = [1, 5, 10, 25, 50];

interface Drill {
  name: string;
  /** The worker's environment beyond the drill's defaults. */
  workerEnv?: Record<string, string>;
  /** Injects the drill's faults while the journeys run and says what it injected. */
  during?: (context: DrillContext) => Promise<string>;
  webhookPlan?: (index: number) => { copies: number; delayMs: number };
  badgeFailsForMs?: number;
}

interface DrillContext {
  stack: BenchStack;
  /** Clicks and funnel steps sent so far: a fault should land while they keep coming. */
  messagesSent(): number;
  restartWorker(): Promise<void>;
  done: () => boolean;
  /** Resolves once that many journeys have been started, so the fault lands while requests keep coming. */
  journeysStarted(count: number): Promise<void>;
  /** Journeys started and confirmed so far, to say where in the run a fault landed. */
  progress(): string;
  /** Resolves once the worker has shown it runs: one that cannot reach Postgres at start exits, as it should. */
  firstJourneyConfirmed(): Promise<void>;
  /** Runs `stop` once the drill's results are in. */
  onFinish(stop: () => Promise<void>): void;
}

/** What the API answered 500 during the current drill, as it logged it: an outage of ours should be a 503. */
const answeredWith500 = new Map<string, number>();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once the worker says it runs (connected, its workflows loaded); a worker that does not within a minute fails the drill. */
function running(worker: ChildService): Promise<void> {
  return new Promise((resolve, reject) => {
    const timeout = setTimeout(() => reject(new Error(`the restarted worker did not run within a minute:\n${worker.output().slice(-2000)}`)), 60_000);
    worker.onLine((line) => {
      if (!line.includes('"worker running"')) return;
      clearTimeout(timeout);
      resolve();
    });
  });
}

interface ClientCounters {
  retries: number;
  /** Clicks and funnel steps not answered 2xx at the first attempt: the intake should take every one. */
  refusedIntake: number;
  /** Why each retry was needed: the status answered, or `refused` when no answer came. */
  retriedBecause: Map<string, number>;
}

/**
 * A client that retries like the app and the membership system do: until the request is accepted. `request` is
 * built again for each attempt, as a webhook sender signs each delivery attempt afresh: a retry carrying the
 * first attempt's signature would be refused once it is older than the signature's five minutes.
 */
async function send(url: string, request: () => RequestInit, counters: ClientCounters): Promise<Response> {
  const intake = url.endsWith('/api/v1/referral-attributions') || url.endsWith('/events');
  for (let attempt = 1; ; attempt += 1) {
    let reason = 'refused';
    try {
      const response = await fetch(url, request());
      if (response.status < 500 && response.status !== 429) return response;
      reason = String(response.status);
    } catch {
      // connection refused while a process restarts
    }
    counters.retries += 1;
    if (intake && attempt === 1) counters.refusedIntake += 1;
    counters.retriedBecause.set(reason, (counters.retriedBecause.get(reason) ?? 0) + 1);
    await sleep(500);
  }
}

async function runDrill(stack: BenchStack, api: { url: string }, drill: Drill, badge: BadgeService) {
  const { code, mentorId, orgId } = await seedCode(stack.databaseUrl);
  // At info level, where the worker says when it runs (the kill drill times its kills from then).
  const startWorker = () => startWorkerProcess(stack, { BADGE_SERVICE_URL: badge.url, LOG_LEVEL: 'info', ...drill.workerEnv });
  let worker: ChildService = startWorker();
  const counters = { retries: 0, refusedIntake: 0, retriedBecause: new Map<string, number>(), webhookDeliveries: 0, messagesSent: 0 };
  const webhooksRefused = new Map<string, number>();
  let finished = false;
  let next = 0;
  const confirmedJourneys = new Set<number>();
  const finishers: Array<() => Promise<void>> = [];
  const context: DrillContext = {
    stack,
    messagesSent: () => counters.messagesSent,
    async restartWorker() {
      worker.kill('SIGKILL');
      await worker.exited;
      worker = startWorker();
      await running(worker);
    },
    done: () => finished,
    journeysStarted: (count) => waitFor(async () => (next >= count ? true : undefined), 15 * 60_000, `${count} journeys started`).then(() => undefined),
    progress: () => `${next} journeys started and ${confirmedJourneys.size} confirmed`,
    onFinish: (stop) => void finishers.push(stop),
    firstJourneyConfirmed: () => waitFor(async () => (confirmedJourneys.size > 0 ? true : undefined), 15 * 60_000, 'a confirmed journey').then(() => undefined),
  };
  answeredWith500.clear();
  badge.failUntil = drill.badgeFailsForMs ? Date.now() + drill.badgeFailsForMs : 0;
  badge.reset();
  const faults = drill.during?.(context) ?? Promise.resolve('');
  const pool = createPool(stack.databaseUrl, () => undefined);
  const started = Date.now();
  const driveJourney = async (index: number) => {
    const member = randomUUID();
    // Each journey is another person: their own device and network address (a header only; all traffic stays on loopback).
    const person = { 'x-forwarded-for': `198.51.${Math.floor(index / 250) % 256}.${index % 250}` };
    const clickBody = JSON.stringify({ code, visitorId: `drill-${index}-${randomUUID()}` });
    counters.messagesSent += 1;
    const clicked = (await (
      await send(`${api.url}/api/v1/referral-attributions`, () => ({
        method: 'POST',
        headers: { 'content-type': 'application/json', ...person },
        body: clickBody,
      }), counters)
    ).json()) as { referralId: string; referralToken: string };
    counters.messagesSent += 1;
    await send(`${api.url}/api/v1/referrals/${clicked.referralId}/events`, () => ({
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${clicked.referralToken}`, ...person },
      body: JSON.stringify({ type: 'account_created', idempotencyKey: `acct-${index}`, newMemberId: member }),
    }), counters);
    // The webhook follows the app's report at once, usually before the worker has recorded it: the
    // referral is found by the app's member link, not by the row the worker writes.
    const body = JSON.stringify({ event: 'member.registered', referralCode: code, newMemberId: member, occurredAt: new Date().toISOString(), deliveryId: `d-${code}-${index}` });
    const deliver = async () => {
      counters.webhookDeliveries += 1;
      const answer = await send(`${api.url}/api/v1/webhooks/membership`, () => {
        const at = Math.floor(Date.now() / 1000);
        return {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-signature': `t=${at},v1=${signPayload(BENCH_SECRETS.MEMBERSHIP_WEBHOOK_SECRET, at, body)}` },
          body,
        };
      }, counters);
      if (answer.ok) {
        confirmedJourneys.add(index);
        return;
      }
      // Refused with a 4xx: the membership system would not send it again, and its journey is not confirmed.
      const why = `${answer.status} ${await answer.text()}`.slice(0, 160);
      webhooksRefused.set(why, (webhooksRefused.get(why) ?? 0) + 1);
    };
    const plan = drill.webhookPlan?.(index) ?? { copies: 1, delayMs: 0 };
    await Promise.all([
      ...Array.from({ length: plan.copies }, deliver),
      ...(plan.delayMs > 0 ? [sleep(plan.delayMs).then(() => Promise.all(Array.from({ length: plan.copies }, deliver)))] : []),
    ]);
  };
  // People arrive at a steady rate whatever the service is going through (an open loop): a fault meets
  // requests that keep coming, not a client that politely waits for the last answer.
  const journeys: Array<Promise<void>> = [];
  for (; next < JOURNEYS; next += 1) {
    journeys.push(driveJourney(next));
    await sleep(1000 / ARRIVALS_PER_SECOND);
  }
  await Promise.all(journeys);
  finished = true;
  const injected = await faults;
  if (drill.badgeFailsForMs && badge.failedCalls === 0) throw new Error('the badge service refused no call: the drill ended before its fault');
  const token = await new SignJWT({ role: 'org_admin', org_id: orgId })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(randomUUID())
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(BENCH_SECRETS.JWT_SECRET));
  const expectedMilestones = MILESTONES.filter((milestone) => milestone <= JOURNEYS);
  const counts = await waitFor(
    async () => {
      const response = await fetch(`${api.url}/api/v1/referral-attributions/mentor/${mentorId}/counts`, { headers: { authorization: `Bearer ${token}` } });
      const body = (await response.json()) as { totalClicks: number; pendingAttributions: number; confirmedAttributions: number };
      const delivered = badge.deliveredMilestones(mentorId);
      // Every journey whose webhook was accepted; a refused one is reported, not waited for.
      return body.confirmedAttributions >= confirmedJourneys.size && delivered.length >= expectedMilestones.length ? body : undefined;
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
  // Every click and step taken reached its workflow once: one counted click and one account per journey.
  const inWorkflows = (
    await pool.query(
      `SELECT (SELECT count(*)::int FROM click_events WHERE mentor_id = $1 AND NOT is_duplicate) AS clicks,
         (SELECT count(*)::int FROM click_events WHERE mentor_id = $1 AND is_duplicate) AS duplicate_clicks,
         (SELECT count(*)::int FROM referral_events e JOIN referrals r ON r.id = e.referral_id WHERE r.mentor_id = $1 AND e.type = 'account_created') AS accounts,
         (SELECT count(*)::int FROM intake WHERE org_id = $2 AND delivered_at IS NULL) AS undelivered`,
      [mentorId, orgId],
    )
  ).rows[0] as { clicks: number; duplicate_clicks: number; accounts: number; undelivered: number };
  await pool.end();
  const delivered = badge.deliveredMilestones(mentorId);
  const result = {
    drill: drill.name,
    faults: [injected, drill.badgeFailsForMs ? `the badge service answering 500 for the first ${drill.badgeFailsForMs / 1000} s (${badge.failedCalls} calls refused)` : '', drill.webhookPlan ? WEBHOOK_PLAN : ''].filter(Boolean).join('; '),
    journeys: JOURNEYS,
    seconds: round((Date.now() - started) / 1000),
    clientRetries: counters.retries,
    refusedIntake: counters.refusedIntake,
    inWorkflows,
    retriedBecause: [...counters.retriedBecause].map(([reason, count]) => `${reason}: ${count}`).join(', '),
    webhookDeliveries: counters.webhookDeliveries,
    answered500: [...answeredWith500].map(([what, count]) => `${count}x ${what}`).join('; '),
    webhooksRefused: [...webhooksRefused].map(([why, count]) => `${count}x ${why}`).join('; '),
    counts,
    lost: JOURNEYS - Number(confirmedPerMember.rows[0].once) - Number(confirmedPerMember.rows[0].more) + Math.max(0, JOURNEYS - inWorkflows.clicks) + Math.max(0, JOURNEYS - inWorkflows.accounts),
    duplicated:
      Number(confirmedPerMember.rows[0].more) +
      Math.max(0, counts.confirmedAttributions - JOURNEYS) +
      Math.max(0, inWorkflows.clicks - JOURNEYS) +
      inWorkflows.duplicate_clicks +
      Math.max(0, inWorkflows.accounts - JOURNEYS),
    badgesDelivered: delivered,
    badgeDuplicates: delivered.length - new Set(delivered).size,
    badgeFailuresAnswered: badge.failedCalls,
    badgeCallsRepeated: badge.repeatedCalls,
  };
  worker.kill('SIGTERM');
  await worker.exited;
  for (const finish of finishers) await finish();
  log(JSON.stringify(result));
  return result;
}

/**
 * The badge service as DESIGN.md describes it: an award is known by its Idempotency-Key, and a repeat of a
 * key (a delivery retried after a worker died between the call and recording it) awards nothing again.
 */
interface BadgeService {
  url: string;
  failUntil: number;
  failedCalls: number;
  /** Calls that repeated an Idempotency-Key already awarded. */
  repeatedCalls: number;
  reset(): void;
  /** The milestone of every award, one per Idempotency-Key: a milestone listed twice was awarded twice. */
  deliveredMilestones(mentorId: string): number[];
  close(): Promise<void>;
}

async function startBadgeService(): Promise<BadgeService> {
  const awards = new Map<string, { mentorId: string; milestone: number }>();
  const service: BadgeService = {
    url: '',
    failUntil: 0,
    failedCalls: 0,
    repeatedCalls: 0,
    reset() {
      service.failedCalls = 0;
      service.repeatedCalls = 0;
    },
    deliveredMilestones: (mentorId) => [...awards.values()].filter((award) => award.mentorId === mentorId).map((award) => award.milestone).sort((a, b) => a - b),
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
      const key = String(req.headers['idempotency-key']);
      if (awards.has(key)) service.repeatedCalls += 1;
      else awards.set(key, { mentorId: award.mentorId, milestone: award.milestone });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  service.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/awards`;
  return service;
}

const scale = SHORT ? 1 / 3 : 1;

const WEBHOOK_PLAN = 'every webhook delivered twice at once; every fifth one 10 s late (10 minutes scaled), so they arrive out of order';

const DRILLS: Drill[] = [
  {
    name: 'kill -9 the worker',
    // From the first confirmed journey on: with local activities a journey takes well under a second, and a
    // drill that ends before its first kill proves nothing. Each worker runs 3-8 s before it is killed, counted
    // from when it runs: a worker needs 1-2 s to start on one machine and longer on another, and one killed
    // before it ever runs tests nothing but a worker that never comes back.
    async during(context) {
      let kills = 0;
      await context.firstJourneyConfirmed();
      while (!context.done()) {
        await context.restartWorker();
        kills += 1;
        await sleep(3000 + Math.random() * 5000);
      }
      if (kills < 2) throw new Error(`the worker was killed only ${kills} times: the drill ended before its faults`);
      return `the worker process group killed with SIGKILL ${kills} times from the first confirmed journey on, each restarted at once and killed again 3-8 s after it ran`;
    },
  },
  {
    name: 'restart Temporal',
    async during(context) {
      const at = Math.floor(JOURNEYS / 4);
      await context.firstJourneyConfirmed();
      await context.journeysStarted(at);
      const when = context.progress();
      await context.stack.restartTemporal();
      await context.restartWorker();
      return `the Temporal server stopped and started again on the same store (${TEMPORAL_ON_POSTGRES ? 'its Postgres databases' : 'the same SQLite file'}) with ${when}`;
    },
  },
  {
    name: 'Postgres down',
    async during(context) {
      const at = Math.floor(JOURNEYS / 4);
      await context.firstJourneyConfirmed();
      await context.journeysStarted(at);
      const when = context.progress();
      await context.stack.stopPostgres();
      await sleep(30_000 * scale);
      await context.stack.startPostgres();
      return `Postgres stopped for ${Math.round(30 * scale)} s with ${when}, then started again`;
    },
  },
  {
    name: 'pause Temporal',
    // SIGSTOP: the server holds its connections and answers nothing, the worst a slow or wedged server does.
    async during(context) {
      await context.firstJourneyConfirmed();
      await context.journeysStarted(Math.floor(JOURNEYS / 4));
      const when = context.progress();
      const pid = context.stack.temporalPid();
      const sentBefore = context.messagesSent();
      process.kill(pid, 'SIGSTOP');
      await sleep(60_000 * scale);
      process.kill(pid, 'SIGCONT');
      return `the Temporal server paused (SIGSTOP) for ${Math.round(60 * scale)} s with ${when}, ${context.messagesSent() - sentBefore} clicks and steps sent meanwhile`;
    },
  },
  {
    name: 'kill -9 the dispatcher',
    // The worker delivers nothing itself here: two dispatchers of their own, killed in turn mid-batch.
    workerEnv: { RUN_DISPATCHER: 'false' },
    async during(context) {
      const env = { DATABASE_URL: context.stack.databaseUrl, TEMPORAL_ADDRESS: context.stack.temporal.address, ...BENCH_SECRETS, LOG_LEVEL: 'warn' };
      const dispatchers = [0, 1].map(() => spawnTsx('dispatcher.ts', env));
      let kills = 0;
      await context.journeysStarted(10);
      while (!context.done()) {
        const victim = kills % dispatchers.length;
        dispatchers[victim].kill('SIGKILL');
        await dispatchers[victim].exited;
        kills += 1;
        dispatchers[victim] = spawnTsx('dispatcher.ts', env);
        await sleep(1000 + Math.random() * 2000);
      }
      // They deliver what is left while the drill counts, then stop.
      context.onFinish(async () => {
        for (const dispatcher of dispatchers) dispatcher.kill('SIGTERM');
        await Promise.all(dispatchers.map((dispatcher) => dispatcher.exited));
      });
      return `two dispatcher processes, one killed with SIGKILL every 1-3 s and restarted at once (${kills} kills)`;
    },
  },
  {
    name: 'badge service failing',
    badgeFailsForMs: 60_000 * scale,
  },
  {
    name: 'webhooks twice, out of order, late',
    webhookPlan: (index) => ({ copies: 2, delayMs: index % 5 === 0 ? 10_000 : 0 }),
  },
];

async function main(): Promise<string> {
  const stack = await startBenchStack();
  const badge = await startBadgeService();
  // At error level the API logs only what it answered 500: each drill's row says what those were.
  const api = await startApi(stack, { COUNTS_CACHE_SECONDS: '0', LOG_LEVEL: 'error' });
  api.onLine((line) => {
    if (!line.includes('"unhandled error"')) return;
    const { err } = JSON.parse(line) as { err: { type: string; message: string } };
    const what = `${err.type}: ${err.message.slice(0, 160)}`;
    answeredWith500.set(what, (answeredWith500.get(what) ?? 0) + 1);
  });
  const results = [];
  try {
    for (const drill of DRILLS.filter((candidate) => !only || candidate.name.includes(only))) results.push(await runDrill(stack, api, drill, badge));
  } finally {
    api.kill('SIGTERM');
    await api.exited;
    await badge.close();
    await stack.stop();
  }
  const rows = results.map(
    (r) =>
      `| ${r.drill} | ${r.faults} | ${r.journeys} | ${r.seconds} s | ${r.counts.totalClicks} / ${r.counts.pendingAttributions} / ${r.counts.confirmedAttributions} | ${r.lost} | ${r.duplicated} | ${r.badgesDelivered.join(', ')} (${r.badgeDuplicates} twice; ${r.badgeCallsRepeated} calls repeated a key) | ${r.inWorkflows.clicks} / ${r.inWorkflows.accounts} | ${r.refusedIntake} | ${r.clientRetries}${r.retriedBecause ? ` (${r.retriedBecause})` : ''} | ${r.answered500 || 'none'} | ${r.webhooksRefused || 'none'} |`,
  );
  const section = `## Fault drills (${SHORT ? 'short' : 'full'}), ${new Date().toISOString().slice(0, 16)}Z

Command: \`npm run drills${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\`. Machine: ${machine()}. Temporal: ${stack.temporalStore}; embedded Postgres;
the API and one worker as separate processes. Each journey: click, account created, membership webhook.
Counts are read from the API (cache off) after the run and must equal the journeys driven; every click and step
taken must be in its workflow once (one counted click and one \`account_created\` event per journey, no duplicate
click rows, the intake empty). Lost and duplicated count both confirmations and those messages.

| drill | faults injected | journeys | time | API clicks / pending / confirmed | lost | duplicated | badges delivered | clicks / accounts in workflows | clicks and steps refused | client retries (why) | answered 500 (what the API logged) | webhooks refused (4xx) |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}
`;
  return section;
}

runBench(`drills-${SHORT ? 'short' : 'full'}`, main);
