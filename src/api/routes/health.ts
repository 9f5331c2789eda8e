import { Router } from 'express';

export interface Readiness {
  postgres(): Promise<boolean>;
  temporal(): Promise<boolean>;
}

export function healthRoutes(readiness: Readiness): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const [postgres, temporal] = await Promise.all([readiness.postgres(), readiness.temporal()]);
    const ready = postgres && temporal;
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks: { postgres, temporal } });
  });
  return router;
}
