import type { RequestHandler } from 'express';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { IntakeBacklog } from './db/intake';
import type { InvitationBacklog } from './db/invitations';
import type { ErasureBacklog } from './db/referrals';

/** The process's Prometheus metrics: one registry for the API, the dispatcher and the process itself. */
export const registry = new Registry();
collectDefaultMetrics({ register: registry });

const requestDuration = new Histogram({
  name: 'http_request_duration_seconds',
  help: 'HTTP requests by route and status',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

const dispatched = new Counter({
  name: 'intake_dispatched_total',
  help: 'Intake messages handed to their workflows (delivered) or refused by Temporal and deferred (failed)',
  labelNames: ['outcome'] as const,
  registers: [registry],
});
// Both series from the start, so a rate reads 0 before the first delivery rather than nothing.
for (const outcome of ['delivered', 'failed']) dispatched.inc({ outcome }, 0);

export const dispatchMetrics = {
  record(delivered: number, failed: number) {
    if (delivered > 0) dispatched.inc({ outcome: 'delivered' }, delivered);
    if (failed > 0) dispatched.inc({ outcome: 'failed' }, failed);
  },
};

/** Request latency by the route's pattern (never the raw path: ids and codes would make a series each). */
export const measureRequests: RequestHandler = (req, res, next) => {
  const end = requestDuration.startTimer({ method: req.method });
  res.on('finish', () => {
    // Every router is mounted at the root, so a route's path is its whole pattern; `baseUrl` by now may be a later
    // mount's (the invite page's error handler under /r).
    const route = req.route?.path ? String(req.route.path) : 'unmatched';
    end({ route, status: String(res.statusCode) });
  });
  next();
};

/**
 * Gauges set, when scraped, from one reading of a source that is given later (the API's stores): one query per scrape
 * serves them all. Answers the function that gives the source.
 */
function gaugesRead<Reading>(gauges: Array<{ name: string; help: string; value: (reading: Reading) => number }>): (source: () => Promise<Reading>) => void {
  let source: (() => Promise<Reading>) | undefined;
  let reading: Promise<Reading | undefined> | undefined;
  const read = () => {
    reading ??= (source?.() ?? Promise.resolve(undefined)).catch(() => undefined).finally(() => setTimeout(() => (reading = undefined), 0));
    return reading;
  };
  for (const { name, help, value } of gauges) {
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const current = await read();
        if (current) this.set(value(current));
      },
    });
  }
  return (given) => {
    source = given;
  };
}

/** What waits in Postgres for Temporal, each read when asked: /readyz shows them, the gauges below expose them. */
export interface Backlogs {
  intake(): Promise<IntakeBacklog>;
  invitations(): Promise<InvitationBacklog>;
  erasures(): Promise<ErasureBacklog>;
}

const measureIntake = gaugesRead<IntakeBacklog>([
  { name: 'intake_backlog_messages', help: 'Clicks and funnel steps taken and not yet delivered to their workflows', value: (backlog) => backlog.undelivered },
  { name: 'intake_oldest_undelivered_age_seconds', help: 'Age of the oldest undelivered intake message (0 when none waits)', value: (backlog) => backlog.oldestAgeSeconds },
]);

const measureInvitations = gaugesRead<InvitationBacklog>([
  { name: 'invitations_awaiting_start', help: 'Invitations taken while Temporal did not answer, whose workflow is not started yet', value: (backlog) => backlog.awaitingStart },
  { name: 'invitations_oldest_awaiting_start_age_seconds', help: 'Age of the oldest invitation awaiting its start (0 when none waits)', value: (backlog) => backlog.oldestAgeSeconds },
]);

const measureErasures = gaugesRead<ErasureBacklog>([
  { name: 'erasures_runs_pending', help: 'Erased referrals whose runs Temporal may still hold, until a worker finds none', value: (backlog) => backlog.runsPending },
  { name: 'erasures_oldest_runs_pending_age_seconds', help: 'How long the oldest such erasure has waited (0 when none)', value: (backlog) => backlog.oldestAgeSeconds },
]);

/** Where the backlog gauges read from. */
export function measureBacklogs(backlogs: Backlogs): void {
  measureIntake(backlogs.intake);
  measureInvitations(backlogs.invitations);
  measureErasures(backlogs.erasures);
}

/** The process's metrics in Prometheus text, with the Temporal SDK's own (its worker's and client's) when it serves them. */
export async function metricsText(temporalMetricsUrl?: string): Promise<string> {
  const ours = await registry.metrics();
  const temporal = temporalMetricsUrl ? await fetch(temporalMetricsUrl, { signal: AbortSignal.timeout(2000) }).then((answer) => answer.text(), () => '') : '';
  return `${ours}\n${temporal}`;
}
