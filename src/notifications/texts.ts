import type { MentorInbox, OpenNotification } from '../db/notifications';
import { escapeHtml } from '../api/pages';

// Every text the service emails, in one place: an organisation changes its wording here.

export interface MailText {
  subject: string;
  text: string;
  html: string;
}

const firstName = (name: string | null) => name?.trim().split(/\s+/)[0] || 'there';
const organisation = (inbox: MentorInbox) => inbox.org_name ?? 'your organisation';

function line(notification: OpenNotification): string {
  if (notification.kind === 'milestone') {
    return `You reached ${notification.detail.milestone} confirmed recruit${notification.detail.milestone === 1 ? '' : 's'}: a new badge is yours.`;
  }
  return 'Someone you invited is now a confirmed member.';
}

const paragraphs = (lines: string[]) => lines.map((text) => `<p>${escapeHtml(text)}</p>`).join('\n');

function mail(subject: string, lines: string[], dashboardUrl: string): MailText {
  const closing = `See your figures: ${dashboardUrl}`;
  return {
    subject,
    text: [...lines, '', closing].join('\n'),
    html: `<!doctype html><html lang="en"><body style="font-family:system-ui,sans-serif;font-size:16px;line-height:1.5">
${paragraphs(lines)}
<p><a href="${escapeHtml(dashboardUrl)}">See your figures</a></p>
</body></html>`,
  };
}

/** One notification as it comes. */
export function notificationMail(inbox: MentorInbox, notification: OpenNotification, dashboardUrl: string): MailText {
  const greeting = `Hello ${firstName(inbox.display_name)},`;
  const subject = notification.kind === 'milestone' ? `${organisation(inbox)}: you reached a milestone` : `${organisation(inbox)}: a recruit of yours joined`;
  return mail(subject, [greeting, line(notification), `Thank you for bringing people to ${organisation(inbox)}.`], dashboardUrl);
}

/** A week's notifications in one message. */
export function digestMail(inbox: MentorInbox, dashboardUrl: string): MailText {
  const recruits = inbox.notifications.filter((notification) => notification.kind === 'recruit_confirmed').length;
  const milestones = inbox.notifications.filter((notification) => notification.kind === 'milestone');
  const lines = [`Hello ${firstName(inbox.display_name)},`, `Your week at ${organisation(inbox)}:`];
  if (recruits > 0) lines.push(`${recruits} recruit${recruits === 1 ? '' : 's'} of yours became confirmed member${recruits === 1 ? '' : 's'}.`);
  for (const milestone of milestones) lines.push(line(milestone));
  return mail(`${organisation(inbox)}: your week`, lines, dashboardUrl);
}
