import { Router } from 'express';
import type { IntakeBacklog } from '../../db/intake';
import type { InvitationBacklog } from '../../db/invitations';
import { registry } from '../../metrics';

export interface Readiness {
  postgres(): Promise<boolean>;
  temporal(): Promise<boolean>;
}

export interface HealthOptions {
  readiness: Readiness;
  backlog(): Promise<IntakeBacklog>;
  invitationBacklog(): Promise<InvitationBacklog>;
  /** The Temporal SDK's own Prometheus endpoint (worker metrics), appended to /metrics when set. */
  temporalMetricsUrl?: string;
}

/**
 * Ready means the API can take clicks and steps, which needs Postgres alone: with Temporal down they wait in the
 * intake, and invitations wait for a worker to start them; both backlogs are shown here for operators.
 */
export function healthRoutes({ readiness, backlog, invitationBacklog, temporalMetricsUrl }: HealthOptions): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const [postgres, temporal] = await Promise.all([readiness.postgres(), readiness.temporal()]);
    const [intake, invitations] = postgres ? await Promise.all([backlog().catch(() => undefined), invitationBacklog().catch(() => undefined)]) : [];
    res.status(postgres ? 200 : 503).json({ status: postgres ? 'ready' : 'not ready', checks: { postgres, temporal }, intake: intake ?? null, invitations: invitations ?? null });
  });
  router.get('/metrics', async (_req, res) => {
    const ours = await registry.metrics();
    const temporal = temporalMetricsUrl ? await fetch(temporalMetricsUrl, { signal: AbortSignal.timeout(2000) }).then((answer) => answer.text(), () => '') : '';
    res.type(registry.contentType).send(`${ours}\n${temporal}`);
  });
  return router;
}
