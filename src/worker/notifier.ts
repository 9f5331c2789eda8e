import type { Pool } from 'pg';
import { createNotificationStore, type MentorInbox } from '../db/notifications';
import type { Mailer } from '../notifications/mail';
import { startPollLoop } from './poll-loop';
import { digestMail, notificationMail, type MailText } from '../notifications/texts';

export interface NotifierOptions {
  pool: Pool;
  mailer: Mailer;
  /** The mentor's dashboard, linked from every message. */
  dashboardUrl: string;
  clock?: () => Date;
  /** How often open notifications are looked for (5 s). */
  pollMs?: number;
  onError?: (error: unknown) => void;
}

export interface RunningNotifier {
  /** One round: what is due now is sent (the loop runs these; tests call it directly). */
  round(): Promise<number>;
  stop(): Promise<void>;
}

const BATCH = 50;

/**
 * Emails mentors what their notifications tell (a recruit confirmed, a milestone reached), each once: a message is
 * settled after the mail server took it, and carries a Message-ID of its own, so the one resend a crash between the
 * two can cause is recognisable as the same message. Mentors who chose a weekly digest get one message a week.
 */
export function startNotifier(options: NotifierOptions): RunningNotifier {
  const store = createNotificationStore(options.pool);
  const now = options.clock ?? (() => new Date());
  const pollMs = options.pollMs ?? 5000;

  /** Sends `text` to the inbox's mentor and settles its notifications; false when the mail server refused. */
  async function deliver(inbox: MentorInbox, messageId: string, text: MailText, outcome: 'sent' | 'digested'): Promise<boolean> {
    const digest = outcome === 'digested';
    const ids = inbox.notifications.map((notification) => notification.id);
    if (inbox.delivery === 'none') return store.settle(ids, 'not_wanted', now()).then(() => true);
    if (!inbox.email) return store.settle(ids, 'no_address', now()).then(() => true);
    try {
      await options.mailer.send({ ...text, to: inbox.email, messageId: `<${messageId}@referral-attribution>` });
    } catch (error) {
      options.onError?.(error);
      await store.release(ids);
      // A digest refused is due again, not in a week.
      if (digest) await store.digestDueAgain(inbox.org_id, inbox.mentor_id);
      return false;
    }
    await store.settle(ids, outcome, now());
    return true;
  }

  async function round(): Promise<number> {
    let sent = 0;
    for (const inbox of await store.claimImmediate(BATCH, now())) {
      for (const notification of inbox.notifications) {
        if (await deliver({ ...inbox, notifications: [notification] }, notification.id, notificationMail(inbox, notification, options.dashboardUrl), 'sent')) sent += 1;
      }
    }
    for (let digest = await store.claimDigest(now()); digest; digest = await store.claimDigest(now())) {
      if (await deliver(digest, `digest-${digest.notifications[0].id}`, digestMail(digest, options.dashboardUrl), 'digested')) sent += 1;
    }
    return sent;
  }

  const loop = startPollLoop({ pollMs, round, onError: options.onError });

  return {
    round,
    stop: () => loop.stop(),
  };
}
