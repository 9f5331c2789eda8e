import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import nodemailer from 'nodemailer';
import type { MailText } from './texts';

export interface OutgoingMail extends MailText {
  to: string;
  /** Stable per message: a resend after a crash is recognisable as the same message. */
  messageId: string;
  /** One-click unsubscribe (RFC 8058): List-Unsubscribe with its URL, and List-Unsubscribe-Post. */
  unsubscribeUrl?: string;
}

const headersOf = (mail: OutgoingMail) =>
  mail.unsubscribeUrl ? { 'List-Unsubscribe': `<${mail.unsubscribeUrl}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' } : {};

export interface Mailer {
  send(mail: OutgoingMail): Promise<void>;
  /** Where development's mail is written, when it is. */
  folder?: string;
}

/** Mail cannot go out: SMTP_URL is not set where a folder of files would be no delivery (production). */
export class MailNotConfiguredError extends Error {
  constructor() {
    super('SMTP_URL is not set: mail waits until it is');
    this.name = 'MailNotConfiguredError';
  }
}

/**
 * SMTP_URL's server through nodemailer; with none, each message as an .eml file in `folder` (development), or, with
 * `folder` undefined (production), a refusal every time: the activity retries until a server is configured.
 */
export function createMailer(options: { smtpUrl?: string; folder?: string; from: string }): Mailer {
  if (options.smtpUrl) {
    const transport = nodemailer.createTransport(options.smtpUrl);
    return {
      async send(mail) {
        await transport.sendMail({ from: options.from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html, messageId: mail.messageId, headers: headersOf(mail) });
      },
    };
  }
  const folder = options.folder;
  if (!folder) {
    return {
      async send() {
        throw new MailNotConfiguredError();
      },
    };
  }
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    folder,
    async send(mail) {
      const built = await transport.sendMail({ from: options.from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html, messageId: mail.messageId, headers: headersOf(mail) });
      await mkdir(folder, { recursive: true });
      const name = `${new Date().toISOString().replace(/[:.]/g, '-')}-${mail.messageId.replace(/[^\w-]/g, '')}.eml`;
      await writeFile(path.join(folder, name), built.message as Buffer);
    },
  };
}
