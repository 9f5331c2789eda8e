import path from 'node:path';
import express, { Router } from 'express';
import { z } from 'zod';
import { coordinatorMentorsBody, orgSettingsBody, reviewBody } from './routes/admin';
import { codeParams, createCodeBody, listCodesQuery, qrQuery } from './routes/codes';
import { landingParams } from './routes/landing';
import {
  coordinatorParams,
  dashboardQuery, mentorTrendQuery,
  listReferralsQuery,
  mentorParams,
  mentorReferralsQuery,
  orgParams,
  referralParams,
} from './routes/reads';
import { SESSION_COOKIE } from './auth';
import { OWN_SCRIPTS_POLICY } from './pages';
import { sessionBody } from './routes/dashboard';
import { bulkInvitationQuery, invitationBody, invitationParams, listInvitationsQuery, unsubscribeParams } from './routes/invitations';
import { notificationPreferencesBody } from './routes/notifications';
import { mentorRewardsQuery, rewardEntryParams, rewardRulesBody } from './routes/rewards';
import { confirmReferralBody, funnelEventBody, membershipWebhookBody, recordClickBody } from './routes/referrals';

/** Who may call an operation, as OpenAPI's alternatives. The dashboard's session cookie stands for the member's token wherever one is taken. */
const SECURITY = {
  none: [],
  memberJwt: [{ memberJwt: [] }, { dashboardSession: [] }],
  // The app's: the referral token from the click, or the signed-in member's own token for the referral linked to them.
  appToken: [{ referralToken: [] }, { memberJwt: [] }],
  webhookSignature: [{ webhookSignature: [] }],
} satisfies Record<string, Array<Record<string, string[]>>>;
type Security = keyof typeof SECURITY;

interface Operation {
  method: 'get' | 'post' | 'put' | 'delete';
  path: string;
  summary: string;
  security: Security;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  success: number;
}

/** Every route the API serves, with the zod schemas it validates with; a test keeps this list and the app in step. */
export const OPERATIONS: Operation[] = [
  { method: 'get', path: '/healthz', summary: 'Liveness', security: 'none', success: 200 },
  { method: 'get', path: '/readyz', summary: 'Readiness (Postgres reachable), Temporal reachable, and the intake backlog', security: 'none', success: 200 },
  { method: 'get', path: '/metrics', summary: 'Prometheus metrics: request latency, intake backlog and age, dispatch rate, Temporal worker metrics', security: 'none', success: 200 },
  { method: 'get', path: '/openapi.json', summary: 'This document', security: 'none', success: 200 },
  { method: 'get', path: '/docs', summary: 'Human-readable API reference', security: 'none', success: 200 },
  { method: 'get', path: '/', summary: "The service's own address: redirects to /dashboard", security: 'none', success: 302 },
  { method: 'get', path: '/dashboard', summary: 'The web dashboard (a page; /dashboard#token=<member JWT> signs in with that token)', security: 'none', success: 200 },
  { method: 'post', path: '/dashboard/session', summary: 'Sign in to the dashboard with a member JWT: sets the session cookie', security: 'none', body: sessionBody, success: 201 },
  { method: 'get', path: '/dashboard/demo-sign-in', summary: "Development only (not served in production): signs in as the demo organisation's admin", security: 'none', success: 303 },
  { method: 'post', path: '/dashboard/sign-out', summary: 'End the dashboard session; redirects to /dashboard', security: 'none', success: 303 },
  { method: 'post', path: '/api/v1/referral-attributions', summary: 'Record a click from the app (recordReferralClick)', security: 'none', body: recordClickBody, success: 201 },
  { method: 'post', path: '/api/v1/referrals/:id/events', summary: "A funnel step: with the referral token from the click, of the referral it names; with the member's own token, of the referral linked to them (its account step named them). `occurredAt` is the device's time: one after the step arrived counts as its arrival, one before the referral's click as the click", security: 'appToken', params: referralParams, body: funnelEventBody, success: 202 },
  { method: 'post', path: '/api/v1/webhooks/membership', summary: 'member.registered / member.cancelled from the membership system', security: 'webhookSignature', body: membershipWebhookBody, success: 200 },
  { method: 'put', path: '/api/v1/referral-attributions/:id', summary: 'Confirm a known referral (confirmRecruitment); returns the ConversionRecord', security: 'webhookSignature', params: referralParams, body: confirmReferralBody, success: 200 },
  { method: 'get', path: '/api/v1/referral-attributions', summary: 'Referrals of the organisation (a mentor: their own), newest first, cursor-paged; by mentor, status, stage, creation time, or the member they brought (newMemberId: for an erasure request)', security: 'memberJwt', query: listReferralsQuery, success: 200 },
  { method: 'get', path: '/api/v1/referral-attributions/mentor/:mentorId/counts', summary: 'AttributionCounts of a mentor (cached 60 s)', security: 'memberJwt', params: mentorParams, success: 200 },
  { method: 'get', path: '/api/v1/referral-attributions/mentor/:mentorId', summary: 'Referrals of one mentor', security: 'memberJwt', params: mentorParams, query: mentorReferralsQuery, success: 200 },
  { method: 'get', path: '/api/v1/referral-attributions/:id', summary: 'One referral with its event timeline; until its workflow has written it, as the messages taken for it make it', security: 'memberJwt', params: referralParams, success: 200 },
  { method: 'delete', path: '/api/v1/referral-attributions/:id', summary: 'Erase the referred person\'s personal data (org_admin); counts stay', security: 'memberJwt', params: referralParams, success: 204 },
  { method: 'get', path: '/api/v1/mentors/:mentorId/stats', summary: 'Funnel per stage, conversion, median time to convert', security: 'memberJwt', params: mentorParams, success: 200 },
  { method: 'get', path: '/api/v1/mentors/:mentorId/recruits', summary: 'RecruitProfiles of a mentor (no contact data)', security: 'memberJwt', params: mentorParams, success: 200 },
  { method: 'get', path: '/api/v1/mentors/:mentorId/trend', summary: "A mentor's funnel (referrals first clicked in the period) and clicks, accounts and confirmations per day, week or month (whole days, UTC; the last 30 by default)", security: 'memberJwt', params: mentorParams, query: mentorTrendQuery, success: 200 },
  { method: 'get', path: '/api/v1/mentors/:mentorId/notification-preferences', summary: 'How a mentor is emailed about confirmed recruits and milestones (each by default)', security: 'memberJwt', params: mentorParams, success: 200 },
  { method: 'put', path: '/api/v1/mentors/:mentorId/notification-preferences', summary: 'How a mentor is emailed about confirmed recruits and milestones: each, weekly_digest or none (the mentor; org admins)', security: 'memberJwt', params: mentorParams, body: notificationPreferencesBody, success: 200 },
  { method: 'post', path: '/api/v1/invitations', summary: "Invite a person by email with the mentor's link (a mentor; limited per day, once per address per period, never an unsubscribed address)", security: 'memberJwt', body: invitationBody, success: 201 },
  { method: 'post', path: '/api/v1/invitations/bulk', summary: 'Invitations for a campaign (?campaign=), each on behalf of a named mentor: a CSV (text/csv, or as Excel saves it) with columns email, name?, message? and mentorId (or ?mentorId= for rows that name none) (org_admin); each row answers sent or why not. Column names are read in any case, with or without spaces, hyphens or underscores; other columns are left out and named in ignoredColumns', security: 'memberJwt', query: bulkInvitationQuery, success: 200 },
  { method: 'get', path: '/api/v1/invitations', summary: "Invitations (a mentor: their own; coordinators and org admins: the organisation's, or one mentor's), newest first, cursor-paged; the address only while open", security: 'memberJwt', query: listInvitationsQuery, success: 200 },
  { method: 'post', path: '/api/v1/invitations/:id/resend', summary: 'Send an open invitation again (once a day)', security: 'memberJwt', params: invitationParams, success: 202 },
  { method: 'post', path: '/api/v1/invitations/:id/cancel', summary: 'Cancel an open invitation: nothing more is sent and its address is dropped', security: 'memberJwt', params: invitationParams, success: 200 },
  { method: 'get', path: '/unsubscribe/:token', summary: "An invitation email's unsubscribe link: a page with one button", security: 'none', params: unsubscribeParams, success: 200 },
  { method: 'post', path: '/unsubscribe/:token', summary: 'One-click unsubscribe (RFC 8058): no one in the organisation emails the address again', security: 'none', params: unsubscribeParams, success: 200 },
  { method: 'get', path: '/api/v1/mentors/:mentorId/badges', summary: 'Badges awarded to a mentor, the latest first', security: 'memberJwt', params: mentorParams, success: 200 },
  { method: 'get', path: '/api/v1/me', summary: 'Who the caller is: user, organisation, role, names', security: 'memberJwt', success: 200 },
  { method: 'get', path: '/api/v1/coordinators/:coordinatorId/aggregate', summary: "MentorPerformanceSummary of each assigned mentor, with the mentor's name", security: 'memberJwt', params: coordinatorParams, success: 200 },
  { method: 'put', path: '/api/v1/coordinators/:coordinatorId/mentors', summary: 'Assign mentors to a coordinator (org_admin)', security: 'memberJwt', params: coordinatorParams, body: coordinatorMentorsBody, success: 200 },
  { method: 'get', path: '/api/v1/orgs/:orgId/recruitment-dashboard', summary: 'Funnel, time series, top mentors by name with their conversion, channels, campaigns, time to convert (median and distribution), referrals awaiting review and stuck ones (coordinators and org admins; the last 30 days unless from/to, dates or date-times; format=csv for a download)', security: 'memberJwt', params: orgParams, query: dashboardQuery, success: 200 },
  { method: 'get', path: '/api/v1/orgs/:orgId/settings', summary: 'Windows (in seconds) and badge milestones of the organisation (its members)', security: 'memberJwt', params: orgParams, success: 200 },
  { method: 'get', path: '/api/v1/orgs/:orgId/mentors', summary: "The organisation's peer mentors by name, with their ids (coordinators and org admins): whom an upload names", security: 'memberJwt', params: orgParams, success: 200 },
  { method: 'get', path: '/api/v1/orgs/:orgId/coordinators', summary: "The organisation's coordinators by name, each with the ids of the mentors assigned to them (org_admin)", security: 'memberJwt', params: orgParams, success: 200 },
  { method: 'put', path: '/api/v1/orgs/:orgId/settings', summary: 'Windows and badge milestones of the organisation (org_admin)', security: 'memberJwt', params: orgParams, body: orgSettingsBody, success: 200 },
  { method: 'get', path: '/api/v1/orgs/:orgId/rewards', summary: "The organisation's reward rules in force, with their version (rules: null when none are set; readable by its mentors, coordinators and admins)", security: 'memberJwt', params: orgParams, success: 200 },
  { method: 'put', path: '/api/v1/orgs/:orgId/rewards', summary: 'New reward rules for confirmations from now on: unit (points or ISO 4217, amounts in minor units), perConfirmedRecruit, milestoneBonuses, campaigns (a multiplier between two dates), welcomeReward, holdingPeriod (seconds or ISO 8601), approvalAbove (org_admin; the unit cannot change once the ledger holds entries)', security: 'memberJwt', params: orgParams, body: rewardRulesBody, success: 200 },
  { method: 'get', path: '/api/v1/orgs/:orgId/rewards/summary', summary: "The programme's totals (pending, confirmed, reversed), each mentor's balance and the entries waiting for approval (coordinators and org admins)", security: 'memberJwt', params: orgParams, success: 200 },
  { method: 'get', path: '/api/v1/mentors/:mentorId/rewards', summary: "A mentor's balance (pending, confirmed, reversed: sums of the ledger) and entries, the newest first, with the referral and rule of each (from/to: the entries made in that period; format=csv: a statement)", security: 'memberJwt', params: mentorParams, query: mentorRewardsQuery, success: 200 },
  { method: 'post', path: '/api/v1/reward-entries/:id/review', summary: 'Approve or reject a reward entry waiting for approval (coordinator, org_admin): approved, it is confirmed after its hold; rejected, reversed', security: 'memberJwt', params: rewardEntryParams, body: reviewBody, success: 200 },
  { method: 'get', path: '/api/v1/platform/totals', summary: 'Cross-organisation totals (platform_admin)', security: 'memberJwt', success: 200 },
  { method: 'post', path: '/api/v1/referral-attributions/:id/review', summary: 'Approve or reject a flagged referral (coordinator, org_admin)', security: 'memberJwt', params: referralParams, body: reviewBody, success: 202 },
  { method: 'get', path: '/r/:code', summary: 'The invite link: records the click, sets the visitor cookie, answers the landing page (rate limited)', security: 'none', params: landingParams, success: 200 },
  { method: 'post', path: '/api/v1/referral-codes', summary: 'Create a referral code (a mentor their own; an org_admin for any mentor)', security: 'memberJwt', body: createCodeBody, success: 201 },
  { method: 'get', path: '/api/v1/referral-codes', summary: 'Referral codes (a mentor: their own)', security: 'memberJwt', query: listCodesQuery, success: 200 },
  { method: 'post', path: '/api/v1/referral-codes/bulk', summary: 'Bulk invitations: a CSV (text/csv, or as Excel saves it: BOM, semicolons, application/vnd.ms-excel) with columns mentorId, displayName?, campaign?, channel? (org_admin), named in any case, with or without spaces, hyphens or underscores; other columns are left out and named in ignoredColumns', security: 'memberJwt', success: 200 },
  { method: 'post', path: '/api/v1/referral-codes/:id/revoke', summary: 'Revoke a code', security: 'memberJwt', params: codeParams, success: 200 },
  { method: 'get', path: '/api/v1/referral-codes/:id/qr.svg', summary: "QR code of the code's URL (ch=qr by default), SVG", security: 'memberJwt', params: codeParams, query: qrQuery, success: 200 },
  { method: 'get', path: '/api/v1/referral-codes/:id/qr.png', summary: "QR code of the code's URL (ch=qr by default), PNG", security: 'memberJwt', params: codeParams, query: qrQuery, success: 200 },
];

// Embedded in an OpenAPI 3.1 document, so without the standalone `$schema` key.
const jsonSchema = (schema: z.ZodType): Record<string, unknown> => {
  const standalone: Record<string, unknown> = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
  delete standalone.$schema;
  return standalone;
};

function parametersOf(schema: z.ZodType | undefined, location: 'path' | 'query') {
  if (!schema) return [];
  const object = jsonSchema(schema) as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(object.properties ?? {}).map(([name, property]) => ({
    name,
    in: location,
    required: location === 'path' || (object.required ?? []).includes(name),
    schema: property,
  }));
}

const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} },
    },
  },
};

export function buildOpenApiDocument() {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const operation of OPERATIONS) {
    const path = operation.path.replace(/:(\w+)/g, '{$1}');
    paths[path] ??= {};
    paths[path][operation.method] = {
      summary: operation.summary,
      security: SECURITY[operation.security],
      parameters: [...parametersOf(operation.params, 'path'), ...parametersOf(operation.query, 'query')],
      ...(operation.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(operation.body) } } } } : {}),
      responses: {
        [operation.success]: { description: 'Success' },
        '4XX': { description: 'The request was refused; nothing changed', content: { 'application/json': { schema: errorSchema } } },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Referral attribution API', version: '1.0.0' },
    components: {
      securitySchemes: {
        memberJwt: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT with sub, role, org_id' },
        referralToken: { type: 'http', scheme: 'bearer', bearerFormat: 'referral token from the click' },
        dashboardSession: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE, description: 'set by POST /dashboard/session; changes must come from the same origin' },
        webhookSignature: { type: 'apiKey', in: 'header', name: 'X-Signature', description: 't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">' },
      },
    },
    paths,
  };
}

const VIEWER_ASSETS = path.dirname(require.resolve('swagger-ui-dist/package.json'));
const OUR_ASSETS = path.resolve(__dirname, '../../public/docs');
const REFERENCE_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Referral attribution API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" href="/docs/assets/favicon-32x32.png">
</head>
<body>
<main id="api"><p>The API reference needs JavaScript; the document itself is <a href="/openapi.json">/openapi.json</a>.</p></main>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/init.js"></script>
</body>
</html>`;

export function openApiRoutes(): Router {
  const document = buildOpenApiDocument();
  const router = Router();
  router.get('/openapi.json', (_req, res) => {
    res.json(document);
  });
  router.get('/docs', (_req, res) => {
    res.setHeader('Content-Security-Policy', OWN_SCRIPTS_POLICY);
    res.type('html').send(REFERENCE_PAGE);
  });
  router.use('/docs/assets', express.static(OUR_ASSETS, { maxAge: '5m', index: false }), express.static(VIEWER_ASSETS, { maxAge: '1h', index: false }));
  return router;
}
