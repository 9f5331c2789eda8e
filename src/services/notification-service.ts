import type { Pool } from 'pg';
import { createNotificationStore, type NotificationDelivery } from '../db/notifications';
import { createOrgStore } from '../db/orgs';
import { authorise, type Caller } from '../domain/access';
import { NotFoundError } from '../errors';

/** How mentors are told what their invitations achieved. */
export function createNotificationService(deps: { pool: Pool }) {
  const notifications = createNotificationStore(deps.pool);
  const orgs = createOrgStore(deps.pool);
  async function manageable(caller: Caller, mentorId: string) {
    if (!(await orgs.isMember(mentorId, caller.orgId))) throw new NotFoundError('mentor');
    authorise(caller, 'manageNotifications', mentorId);
  }

  return {
    async preferences(caller: Caller, mentorId: string) {
      await manageable(caller, mentorId);
      return { mentorId, delivery: await notifications.deliveryOf(caller.orgId, mentorId) };
    },

    async setPreferences(caller: Caller, mentorId: string, delivery: NotificationDelivery) {
      await manageable(caller, mentorId);
      await notifications.setDelivery(mentorId, caller.orgId, delivery, new Date());
      return { mentorId, delivery };
    },
  };
}

export type NotificationService = ReturnType<typeof createNotificationService>;
