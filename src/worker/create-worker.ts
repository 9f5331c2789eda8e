import { createServer as createHttpServer } from 'node:http';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Pool } from 'pg';
import { createActivities, systemClock, type ActivityDependencies } from '../activities';
import { createInvitationActivities, type InvitationActivityDependencies } from '../activities/invitations';
import { createBadgeClient } from '../activities/badge-client';
import { createMembershipClient } from '../activities/membership-client';
import type { Config } from '../config';
import { createMailer } from '../notifications/mail';
import { startNotifier, type RunningNotifier } from './notifier';
import { startRewardSettler, type RewardSettler } from './reward-settler';
import { startInvitationStarter } from './invitation-starter';
import { startPollLoop, type PollLoop } from './poll-loop';
import { createReferralStore } from '../db/referrals';
import { freeLoopbackPort } from '../stack/free-port';
import { createErasedRunSweep } from '../services/erased-runs';
import { createInvitationStarts, invitationTiming } from '../services/invitation-start';
import { createReferralService, referralServiceSettings, type ReferralService } from '../services/referral-service';
import { TASK_QUEUE } from '../workflows/messages';
import type { Logger } from '../logger';
import { dispatchMetrics, measureBacklogs, metricsText, registry } from '../metrics';
import { backlogsOf } from '../services/backlogs';
import { startDispatcher, type RunningDispatcher } from './dispatcher';
import { idleThreads, reniceThreads } from './niceness';
import { bundleWorkflows } from './workflow-bundle';

export interface ReferralWorkerOptions extends ActivityDependencies {
  connection: NativeConnection;
  namespace: string;
  taskQueue?: string;
  /** A prebuilt bundle (tests build one per file, production reads WORKFLOW_BUNDLE_PATH); otherwise the workflows are bundled at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  tuning?: Pick<WorkerOptions, 'maxCachedWorkflows' | 'maxConcurrentActivityTaskExecutions' | 'maxConcurrentWorkflowTaskExecutions'>;
  /** How invitations are emailed. */
  invitationMail: Omit<InvitationActivityDependencies, 'pool' | 'clock'>;
}

const publicBaseUrlOf = (config: Config) => config.PUBLIC_BASE_URL ?? `http://localhost:${config.PORT}`;

/** SMTP_URL's server; without one, the development folder under DATA_DIR/mail, and in production no mail at all. */
const configuredMailer = (config: Config) =>
  createMailer({ smtpUrl: config.SMTP_URL, folder: config.NODE_ENV === 'production' ? undefined : path.resolve(config.DATA_DIR, 'mail'), from: config.MAIL_FROM });

/** The reconciliation's back-fill: a registration confirmed as the webhook would have done. */
export function confirmRegistrationWith(service: ReferralService): NonNullable<ActivityDependencies['confirmRegistration']> {
  return (registration) =>
    service.confirmRecruitment({
      code: registration.referralCode,
      newMemberId: registration.newMemberId,
      occurredAt: registration.occurredAt,
      source: 'reconciliation',
    });
}

/** The activities' real dependencies, for `npm start` and the standalone worker alike. */
export function productionDependencies(config: Config, pool: Pool, temporal: Client): ActivityDependencies & Pick<ReferralWorkerOptions, 'invitationMail'> {
  return {
    invitationMail: { mailer: configuredMailer(config), publicBaseUrl: publicBaseUrlOf(config), hashSalt: config.HASH_SALT },
    pool,
    clock: systemClock,
    badgeClient: createBadgeClient(config.BADGE_SERVICE_URL),
    membershipClient: createMembershipClient(config.MEMBERSHIP_API_URL),
    confirmRegistration: confirmRegistrationWith(createReferralService({ pool, temporal, hashSalt: config.HASH_SALT, ...referralServiceSettings(config) })),
  };
}

/** The worker's own settings from the configuration, for `npm start` and the standalone worker alike. */
export function configuredWorkerOptions(config: Config): Pick<ReferralWorkerOptions, 'tuning' | 'workflowBundle'> {
  return {
    tuning: { maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS },
    ...(config.WORKFLOW_BUNDLE_PATH ? { workflowBundle: { codePath: config.WORKFLOW_BUNDLE_PATH } } : {}),
  };
}

export async function createReferralWorker(options: ReferralWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    workflowBundle: options.workflowBundle ?? { code: await bundleWorkflows() },
    activities: { ...createActivities(options), ...createInvitationActivities({ pool: options.pool, clock: options.clock, ...options.invitationMail }) },
    // A backlog's new referrals each start with a task on the shared queue, which the SDK's fixed split gives 2 of 10
    // pollers: the dispatcher's starts then outran the first tasks five to one, and every count waited for the backlog's end.
    workflowTaskPollerBehavior: { type: 'autoscaling' },
    ...options.tuning,
  });
}

/**
 * A standalone worker's or dispatcher's CPU priority, set on each of its threads (Linux keeps one per thread) before
 * it starts more: a new thread takes its creator's, so the SDK's threads share it.
 */
export function yieldCpuToRequests(config: Pick<Config, 'WORKER_NICENESS' | 'WORKER_CPU_CLASS'>): void {
  if (config.WORKER_CPU_CLASS === 'idle') idleThreads('self');
  else reniceThreads('self', config.WORKER_NICENESS);
}

/** A failure of a loop that tries again, told once a minute at most: while Postgres or Temporal is down every round fails. */
function warnOncePerMinute(logger: Logger, message: string): (error: unknown) => void {
  let lastWarned = 0;
  return (error) => {
    if (Date.now() - lastWarned < 60_000) return;
    lastWarned = Date.now();
    logger.warn({ err: error }, message);
  };
}

/** The intake's dispatcher of `npm start`, the standalone worker and `npm run dispatcher`. */
export function startConfiguredDispatcher(config: Config, pool: Pool, temporal: Client, logger: Logger): RunningDispatcher {
  return startDispatcher({
    pool,
    temporal,
    concurrency: config.DISPATCH_CONCURRENCY,
    lingerMs: config.DISPATCH_LINGER_MS,
    deliveryTimeoutMs: config.SIGNAL_TIMEOUT_MS,
    onDispatched: (delivered, failed) => dispatchMetrics.record(delivered, failed),
    onError: warnOncePerMinute(logger, 'intake delivery failed; messages wait in Postgres and are retried'),
  });
}

/**
 * The mentors' notifier of `npm start` and the standalone worker: SMTP_URL's server, or in development an .eml file
 * per message under DATA_DIR/mail. Production without SMTP_URL sends nothing; the notifications wait.
 */
export function startConfiguredNotifier(config: Config, pool: Pool, logger: Logger): (RunningNotifier & { folder?: string }) | undefined {
  if (!config.SMTP_URL && config.NODE_ENV === 'production') {
    logger.warn('SMTP_URL is not set: mentors are not emailed; their notifications wait until it is');
    return undefined;
  }
  const mailer = configuredMailer(config);
  const notifier = startNotifier({
    pool,
    mailer,
    dashboardUrl: new URL('/dashboard', publicBaseUrlOf(config)).toString(),
    onError: warnOncePerMinute(logger, 'a notification could not be sent; it is tried again'),
  });
  return { ...notifier, folder: mailer.folder };
}

/** The reward entries' timers, in every worker process: several settle the same ledger without doubling. */
export function startConfiguredRewardSettler(config: Config, pool: Pool, logger: Logger): RewardSettler {
  return startRewardSettler({
    pool,
    pollMs: config.REWARDS_SETTLE_SECONDS * 1000,
    onError: warnOncePerMinute(logger, 'reward entries could not be settled; tried again'),
  });
}

/** Invitations' workflows that their request could not start, in every worker process. */
export function startConfiguredInvitationStarter(config: Config, pool: Pool, temporal: Client, logger: Logger): PollLoop {
  return startInvitationStarter({
    starts: createInvitationStarts({ pool, temporal, timing: invitationTiming(config) }),
    pollMs: config.INVITATION_START_POLL_SECONDS * 1000,
    onError: warnOncePerMinute(logger, 'invitations could not be started; they wait in Postgres and are tried again'),
  });
}

/** How often each worker process looks for erased referrals' runs left in Temporal. */
const ERASED_RUN_SWEEP_MS = 5_000;

/** The last part of erasures, in every worker process: the runs of erased referrals, deleted once Temporal answers. */
export function startConfiguredErasedRunSweeper(config: Config, pool: Pool, temporal: Client, logger: Logger): PollLoop {
  const sweep = createErasedRunSweep({ temporal, referrals: createReferralStore(pool), timeoutMs: config.SIGNAL_TIMEOUT_MS });
  return startPollLoop({
    pollMs: ERASED_RUN_SWEEP_MS,
    round: sweep.sweep,
    onError: warnOncePerMinute(logger, "erased referrals' runs could not be deleted yet; tried again"),
  });
}

/**
 * The Temporal SDK's metrics (its worker's and its client's) in Prometheus form, served on loopback at
 * TEMPORAL_METRICS_PORT or a free port; before any connection. Answers where, for /metrics to append them.
 */
export async function installTemporalMetrics(config: Config): Promise<string> {
  const port = config.TEMPORAL_METRICS_PORT ?? (await freeLoopbackPort());
  Runtime.install({ telemetryOptions: { metrics: { prometheus: { bindAddress: `127.0.0.1:${port}` } } } });
  return `http://127.0.0.1:${port}/metrics`;
}

/**
 * A standalone worker's or dispatcher's own `GET /metrics` on WORKER_METRICS_PORT, as the API's: its dispatch rate
 * and process, the backlogs, and the Temporal SDK's metrics when given where they are served.
 */
export async function startConfiguredMetricsServer(config: Config, pool: Pool, temporalMetricsUrl?: string): Promise<{ stop(): Promise<void> } | undefined> {
  if (config.WORKER_METRICS_PORT === undefined) return undefined;
  measureBacklogs(backlogsOf(pool));
  const server = createHttpServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    void metricsText(temporalMetricsUrl).then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      () => res.writeHead(503).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.WORKER_METRICS_PORT, resolve);
  });
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
