import type { RequestHandler } from 'express';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { IntakeBacklog } from './db/intake';

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

let backlogSource: (() => Promise<IntakeBacklog>) | undefined;
let reading: Promise<IntakeBacklog | undefined> | undefined;
/** One query per scrape serves both gauges. */
const readBacklog = () => {
  reading ??= (backlogSource?.() ?? Promise.resolve(undefined)).catch(() => undefined).finally(() => setTimeout(() => (reading = undefined), 0));
  return reading;
};

/** A gauge set from the backlog's reading when scraped. */
const backlogGauge = (name: string, help: string, value: (backlog: IntakeBacklog) => number) =>
  new Gauge({
    name,
    help,
    registers: [registry],
    async collect() {
      const backlog = await readBacklog();
      if (backlog) this.set(value(backlog));
    },
  });
backlogGauge('intake_backlog_messages', 'Clicks and funnel steps taken and not yet delivered to their workflows', (backlog) => backlog.undelivered);
backlogGauge('intake_oldest_undelivered_age_seconds', 'Age of the oldest undelivered intake message (0 when none waits)', (backlog) => backlog.oldestAgeSeconds);

/** Where the backlog gauges read from: the API's intake. */
export function measureBacklog(backlog: () => Promise<IntakeBacklog>) {
  backlogSource = backlog;
}
