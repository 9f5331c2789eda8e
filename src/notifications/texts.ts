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

/** Every mentor's email says where to get fewer of them. */
const HOW_OFTEN = 'How often we email you: choose under "Emails to you" on your dashboard.';

function mail(subject: string, lines: string[], dashboardUrl: string): MailText {
  const closing = `See your figures: ${dashboardUrl}`;
  return {
    subject,
    text: [...lines, '', closing, HOW_OFTEN].join('\n'),
    html: `<!doctype html><html lang="en"><body style="font-family:system-ui,sans-serif;font-size:16px;line-height:1.5">
${paragraphs(lines)}
<p><a href="${escapeHtml(dashboardUrl)}">See your figures</a></p>
<p style="color:#4a4a52;font-size:14px">${escapeHtml(HOW_OFTEN)}</p>
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

export interface InvitationText {
  kind: 'invitation' | 'reminder' | 'resend';
  inviteeName: string | null;
  mentorName: string | null;
  orgName: string | null;
  /** The mentor's own words, if they wrote any. */
  message: string | null;
  link: string;
  unsubscribeUrl: string;
}

/** An invitation in the organisation's name, with the mentor's first name and their link. */
export function invitationMail(invitation: InvitationText): MailText {
  const mentor = firstName(invitation.mentorName) === 'there' ? 'A member' : firstName(invitation.mentorName);
  const organisation = invitation.orgName ?? 'our organisation';
  const subject = invitation.kind === 'reminder' ? `A reminder: ${mentor} invited you to ${organisation}` : `${mentor} invited you to ${organisation}`;
  const lines = [
    `Hello ${invitation.inviteeName ? firstName(invitation.inviteeName) : 'there'},`,
    `${mentor} invited you to join ${organisation}.`,
    ...(invitation.message ? [`${mentor} wrote: "${invitation.message}"`] : []),
    `Join here: ${invitation.link}`,
  ];
  const footer = `Not interested? You will get no more emails from ${organisation}: ${invitation.unsubscribeUrl}`;
  return {
    subject,
    text: [...lines, '', footer].join('\n'),
    html: `<!doctype html><html lang="en"><body style="font-family:system-ui,sans-serif;font-size:16px;line-height:1.5">
${paragraphs(lines.slice(0, -1))}
<p><a href="${escapeHtml(invitation.link)}">Join ${escapeHtml(organisation)}</a></p>
<p style="color:#4a4a52;font-size:14px"><a href="${escapeHtml(invitation.unsubscribeUrl)}">No more emails from ${escapeHtml(organisation)}</a></p>
</body></html>`,
  };
}
