import { Router } from 'express';
import { z } from 'zod';
import type { NotificationService } from '../../services/notification-service';
import type { Authenticate } from '../auth';
import { mentorParams } from './reads';

export const notificationPreferencesBody = z.strictObject({
  /** Each message as it comes, one digest a week, or none. */
  delivery: z.enum(['each', 'weekly_digest', 'none']),
});

export function notificationRoutes(deps: { authenticate: Authenticate; notifications: NotificationService }): Router {
  const router = Router();
  router.get('/api/v1/mentors/:mentorId/notification-preferences', async (req, res) => {
    const caller = await deps.authenticate(req);
    res.json(await deps.notifications.preferences(caller, mentorParams.parse(req.params).mentorId));
  });

  router.put('/api/v1/mentors/:mentorId/notification-preferences', async (req, res) => {
    const caller = await deps.authenticate(req);
    const { mentorId } = mentorParams.parse(req.params);
    const { delivery } = notificationPreferencesBody.parse(req.body);
    res.json(await deps.notifications.setPreferences(caller, mentorId, delivery));
  });
  return router;
}
