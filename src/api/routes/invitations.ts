import express, { Router } from 'express';
import { z } from 'zod';
import type { InvitationService } from '../../services/invitation-service';
import { authorise } from '../../domain/access';
import type { Authenticate } from '../auth';
import { csvBody, csvRows, eachRow } from '../csv-upload';
import { answerPage, escapeHtml } from '../pages';
import { uuid } from '../../ids';
import { INVITATION_STATUSES } from '../../db/invitations';
import { pageCursor } from './reads';

/** One line, no control characters: a name or a message never becomes a header or breaks one. */
export const oneLine = (max: number) => z.string().trim().min(1).max(max).regex(/^[^\p{Cc}]*$/u, 'must be one line of text');

export const invitationBody = z.strictObject({
  email: z.email().max(254),
  name: oneLine(100).optional(),
  message: z.string().trim().min(1).max(500).regex(/^[^\p{Cc}]*$/u, 'must be text without control characters').optional(),
});
export const invitationParams = z.strictObject({ id: uuid });
export const listInvitationsQuery = z.strictObject({
  mentorId: uuid.optional(),
  status: z.enum(INVITATION_STATUSES).optional(),
  cursor: pageCursor.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(200),
});
export const bulkInvitationQuery = z.strictObject({ campaign: z.string().trim().min(1).max(100).optional(), mentorId: uuid.optional() });
/** A row of an org admin's upload: whom, on whose behalf (the query's mentor where the row names none). */
const bulkInvitationRow = (mentorId: string | undefined) => invitationBody.extend({ mentorId: mentorId ? uuid.default(mentorId) : uuid });
export const unsubscribeParams = z.strictObject({ token: z.string().regex(/^[0-9a-f-]{36}\.[0-9a-f]{64}\.[0-9a-f]{32}$/) });

const STOPPED = ['You will get no more emails', 'No one in the organisation will email this address again.'] as const;
const NOT_A_LINK = ['This link is not valid', 'Use the unsubscribe link from the email exactly as it came.'] as const;

export function invitationRoutes(deps: { authenticate: Authenticate; invitations: InvitationService }): Router {
  const router = Router();

  router.post('/api/v1/invitations', async (req, res) => {
    const caller = await deps.authenticate(req);
    res.status(201).json(await deps.invitations.invite(caller, invitationBody.parse(req.body)));
  });

  router.post('/api/v1/invitations/bulk', csvBody, async (req, res) => {
    const caller = await deps.authenticate(req);
    authorise(caller, 'bulkInvite');
    const { campaign, mentorId } = bulkInvitationQuery.parse(req.query);
    const upload = csvRows(req.body, bulkInvitationRow(mentorId));
    const rows = await eachRow(upload.rows, async (row) => {
      const invitation = await deps.invitations.invite(caller, { ...row, campaign });
      return { status: 'sent', invitationId: invitation.id, mentorId: row.mentorId };
    });
    res.json({ rows, ignoredColumns: upload.ignoredColumns });
  });

  router.get('/api/v1/invitations', async (req, res) => {
    const caller = await deps.authenticate(req);
    res.json(await deps.invitations.list(caller, listInvitationsQuery.parse(req.query)));
  });

  router.post('/api/v1/invitations/:id/resend', async (req, res) => {
    const caller = await deps.authenticate(req);
    res.status(202).json(await deps.invitations.resend(caller, invitationParams.parse(req.params).id));
  });

  router.post('/api/v1/invitations/:id/cancel', async (req, res) => {
    const caller = await deps.authenticate(req);
    res.json(await deps.invitations.cancel(caller, invitationParams.parse(req.params).id));
  });

  // The email's unsubscribe link: a page with one button (a link scanner opening it changes nothing), and the
  // one-click POST mail clients send (RFC 8058).
  router.get('/unsubscribe/:token', (req, res) => {
    const params = unsubscribeParams.safeParse(req.params);
    if (!params.success) return answerPage(res, 404, ...NOT_A_LINK);
    answerPage(
      res,
      200,
      'Stop these emails?',
      'Press the button and no one in this organisation will email you again.',
      `<form method="post" action="/unsubscribe/${escapeHtml(params.data.token)}"><button class="button" type="submit">Stop the emails</button></form>`,
    );
  });

  router.post('/unsubscribe/:token', express.urlencoded({ extended: false, limit: '1kb' }), async (req, res) => {
    const params = unsubscribeParams.safeParse(req.params);
    if (!params.success || !(await deps.invitations.unsubscribe(params.data.token))) return answerPage(res, 404, ...NOT_A_LINK);
    answerPage(res, 200, ...STOPPED);
  });

  return router;
}
