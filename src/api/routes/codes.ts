import { Router } from 'express';
import QRCode from 'qrcode';
import { z } from 'zod';
import { authorise } from '../../domain/access';
import type { CodeService } from '../../services/code-service';
import type { Authenticate } from '../auth';
import { csvBody, csvRows, eachRow } from '../csv-upload';
import { oneLine } from './invitations';
import { dayOrTime } from '../times';
import { uuid } from '../../ids';

/** A share channel in one spelling, whoever wrote it: `WhatsApp` and `whatsapp` are one channel on the dashboard. */
export const shareChannel = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z][a-z0-9_-]{1,19}$/, 'must be a short channel name such as whatsapp');
/** A campaign's name as reward rules compare it: trimmed, one line. */
const campaignName = oneLine(100);

export const createCodeBody = z.strictObject({
  mentorId: uuid.optional(),
  campaign: campaignName.optional(),
  channel: shareChannel.optional(),
  // A plain date: the link works through that day (UTC).
  expiresAt: dayOrTime(true).optional(),
});

export const listCodesQuery = z.strictObject({ mentorId: uuid.optional() });
export const codeParams = z.strictObject({ id: uuid });
export const qrQuery = z.strictObject({ ch: shareChannel.default('qr') });

const bulkRow = z.strictObject({
  mentorId: uuid,
  displayName: z.string().max(200).optional(),
  campaign: campaignName.optional(),
  channel: shareChannel.optional(),
});


export function codeRoutes(deps: { authenticate: Authenticate; codes: CodeService }): Router {
  const router = Router();

  router.post('/api/v1/referral-codes', async (req, res) => {
    const caller = await deps.authenticate(req);
    const body = createCodeBody.parse(req.body);
    res.status(201).json(await deps.codes.create(caller, body));
  });

  router.get('/api/v1/referral-codes', async (req, res) => {
    const caller = await deps.authenticate(req);
    const query = listCodesQuery.parse(req.query);
    res.json({ items: await deps.codes.list(caller, query) });
  });

  router.post('/api/v1/referral-codes/bulk', csvBody, async (req, res) => {
    const caller = await deps.authenticate(req);
    authorise(caller, 'bulkCodes');
    const upload = csvRows(req.body, bulkRow);
    const rows = await eachRow(upload.rows, async ({ mentorId, displayName, ...code }) => {
      await deps.codes.ensureMentor(caller, mentorId, displayName ?? null);
      const { code: made, created } = await deps.codes.ensureBulkCode(caller, { mentorId, ...code });
      return { status: created ? 'created' : 'existing', mentorId, code: made.code, url: made.url };
    });
    res.json({ rows, ignoredColumns: upload.ignoredColumns });
  });

  router.post('/api/v1/referral-codes/:id/revoke', async (req, res) => {
    const caller = await deps.authenticate(req);
    const { id } = codeParams.parse(req.params);
    res.json(await deps.codes.revoke(caller, id));
  });

  router.get('/api/v1/referral-codes/:id/qr.svg', async (req, res) => {
    const caller = await deps.authenticate(req);
    const { id } = codeParams.parse(req.params);
    const { ch } = qrQuery.parse(req.query);
    const code = await deps.codes.get(caller, id, ch);
    res.type('image/svg+xml').send(await QRCode.toString(code.url, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 }));
  });

  router.get('/api/v1/referral-codes/:id/qr.png', async (req, res) => {
    const caller = await deps.authenticate(req);
    const { id } = codeParams.parse(req.params);
    const { ch } = qrQuery.parse(req.query);
    const code = await deps.codes.get(caller, id, ch);
    res.type('image/png').send(await QRCode.toBuffer(code.url, { type: 'png', errorCorrectionLevel: 'M', margin: 2, scale: 8 }));
  });

  return router;
}
