import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import type { Pool } from 'pg';
import { systemClock } from '../../src/activities';
import { createBadgeClient } from '../../src/activities/badge-client';
import { createMembershipClient } from '../../src/activities/membership-client';
import { createJourneyPool } from '../../src/db/pool';
import { createMailer } from '../../src/notifications/mail';
import { DEFAULT_ORG_SETTINGS, type OrgSettings } from '../../src/domain/referral';
import { createReferralService, type ReferralService } from '../../src/services/referral-service';
import { confirmRegistrationWith, createReferralWorker } from '../../src/worker/create-worker';
import { startDispatcher } from '../../src/worker/dispatcher';
import { writeWorkflowBundle } from '../../src/worker/workflow-bundle';

// The bundle a production worker reads from WORKFLOW_BUNDLE_PATH, written once per test file.
let bundle: Promise<{ codePath: string }> | undefined;
function workflowBundle() {
  bundle ??= writeWorkflowBundle(path.join(mkdtempSync(path.join(tmpdir(), 'referral-bundle-')), 'workflow-bundle.js')).then((codePath) => ({ codePath }));
  return bundle;
}

export interface SeededOrg {
  orgId: string;
  mentorId: string;
  codeId: string;
  code: string;
}

export interface Harness {
  pool: Pool;
  client: Client;
  taskQueue: string;
  service: ReferralService;
  /** `dispatch: false` runs the worker without the intake's dispatcher. */
  /** `smtpUrl`: where invitations are mailed (by default, .eml files in a scratch folder). */
  startWorker(options?: { badgeServiceUrl?: string; membershipApiUrl?: string; dispatch?: boolean; smtpUrl?: string; publicBaseUrl?: string }): Promise<RunningWorker>;
  seedOrg(settings?: Partial<OrgSettings>): Promise<SeededOrg>;
  addCode(org: { orgId: string }, mentorId?: string): Promise<SeededOrg>;
  close(): Promise<void>;
}

export interface RunningWorker {
  worker: Worker;
  stop(): Promise<void>;
}

/** One test file's view of the real stack: a Postgres pool, a Temporal client and its own task queue. */
export async function openHarness(): Promise<Harness> {
  // The worker's kind of pool, so the suite runs its statements as it runs them.
  const pool = createJourneyPool(process.env.TEST_DATABASE_URL!, () => undefined);
  const address = process.env.TEST_TEMPORAL_ADDRESS!;
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  const nativeConnection = await NativeConnection.connect({ address });
  const taskQueue = `test-${randomUUID()}`;
  const workers: RunningWorker[] = [];

  async function addCode(org: { orgId: string }, mentorId: string = randomUUID()): Promise<SeededOrg> {
    await pool.query(
      `INSERT INTO users (id, org_id, role, display_name) VALUES ($1, $2, 'peer_mentor', 'Test Mentor')
       ON CONFLICT (org_id, id) DO NOTHING`,
      [mentorId, org.orgId],
    );
    const codeId = randomUUID();
    const code = `c${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    await pool.query('INSERT INTO referral_codes (id, code, mentor_id, org_id) VALUES ($1, $2, $3, $4)', [
      codeId,
      code,
      mentorId,
      org.orgId,
    ]);
    return { orgId: org.orgId, mentorId, codeId, code };
  }

  const service = createReferralService({ pool, temporal: client, hashSalt: 'test-only-hash-salt', taskQueue });
  return {
    pool,
    client,
    taskQueue,
    service,
    async startWorker(options = {}) {
      const worker = await createReferralWorker({
        connection: nativeConnection,
        namespace: 'default',
        taskQueue,
        workflowBundle: await workflowBundle(),
        pool,
        clock: systemClock,
        badgeClient: createBadgeClient(options.badgeServiceUrl, 2000),
        membershipClient: createMembershipClient(options.membershipApiUrl, 2000),
        confirmRegistration: confirmRegistrationWith(service),
        invitationMail: {
          mailer: createMailer({ smtpUrl: options.smtpUrl, folder: path.join(mkdtempSync(path.join(tmpdir(), 'referral-mail-')), 'mail'), from: 'Referrals <no-reply@example.org>' }),
          publicBaseUrl: options.publicBaseUrl ?? 'http://localhost:3000',
          hashSalt: 'test-only-hash-salt',
        },
      });
      const running = worker.run();
      // The worker process runs the intake's dispatcher too, as in production.
      const dispatcher = options.dispatch === false ? undefined : startDispatcher({ pool, temporal: client, taskQueue, pollMs: 200 });
      const handle: RunningWorker = {
        worker,
        async stop() {
          await dispatcher?.stop();
          if (worker.getState() === 'RUNNING') worker.shutdown();
          await running;
        },
      };
      workers.push(handle);
      return handle;
    },
    async seedOrg(settings = {}) {
      const merged = { ...DEFAULT_ORG_SETTINGS, ...settings };
      const orgId = randomUUID();
      await pool.query(
        `INSERT INTO organisations (id, name, attribution_window_seconds, confirmation_window_seconds,
           dedupe_window_seconds, badge_milestones) VALUES ($1, 'Test Org', $2, $3, $4, $5)`,
        [orgId, merged.attributionWindowSeconds, merged.confirmationWindowSeconds, merged.dedupeWindowSeconds, merged.badgeMilestones],
      );
      return addCode({ orgId });
    },
    addCode,
    async close() {
      for (const running of workers) await running.stop();
      await nativeConnection.close();
      await connection.close();
      await pool.end();
    },
  };
}

/** Polls until `probe` returns a value that is not undefined, or fails with the last value seen. */
export async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 30_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export interface BadgeCall {
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
  answered: number;
}

/** A badge service on loopback that records every call and answers `statusFor(callNumber)`. */
export async function startBadgeService(statusFor: (call: number) => number = () => 200) {
  const calls: BadgeCall[] = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk) => (raw += chunk));
    req.on('end', () => {
      const answered = statusFor(calls.length + 1);
      calls.push({ headers: req.headers, body: JSON.parse(raw), answered });
      res.writeHead(answered, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/awards`,
    calls,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
