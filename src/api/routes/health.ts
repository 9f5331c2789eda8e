import { Router } from 'express';
import { metricsText, registry, type Backlogs } from '../../metrics';

export interface Readiness {
  postgres(): Promise<boolean>;
  temporal(): Promise<boolean>;
}

export interface HealthOptions {
  readiness: Readiness;
  backlogs: Backlogs;
  /** The Temporal SDK's own Prometheus endpoint (worker metrics), appended to /metrics when set. */
  temporalMetricsUrl?: string;
}

/**
 * Ready means the API can take clicks and steps, which needs Postgres alone: with Temporal down they wait in the
 * intake, invitations wait for a worker to start them, and erasures for a worker to delete their runs; each backlog is
 * shown here for operators.
 */
export function healthRoutes({ readiness, backlogs, temporalMetricsUrl }: HealthOptions): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const [postgres, temporal] = await Promise.all([readiness.postgres(), readiness.temporal()]);
    const [intake, invitations, erasures] = await Promise.all(
      [backlogs.intake, backlogs.invitations, backlogs.erasures].map((read) => (postgres ? read().catch(() => null) : null)),
    );
    res.status(postgres ? 200 : 503).json({ status: postgres ? 'ready' : 'not ready', checks: { postgres, temporal }, intake, invitations, erasures });
  });
  router.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await metricsText(temporalMetricsUrl));
  });
  return router;
}
