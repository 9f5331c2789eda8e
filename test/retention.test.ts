import { randomUUID } from 'node:crypto';
import { ScheduleNotFoundError } from '@temporalio/client';
import { RECONCILIATION_SCHEDULE_ID, RETENTION_SCHEDULE_ID, ensureSchedules } from '../src/worker/schedules';
import { deviceMetadataRetentionWorkflow } from '../src/workflows/retention-workflow';
import { eventually, openHarness, type Harness } from './support/harness';

let harness: Harness;

beforeAll(async () => {
  harness = await openHarness();
  await harness.startWorker();
});

afterAll(async () => {
  for (const id of [RETENTION_SCHEDULE_ID, RECONCILIATION_SCHEDULE_ID]) {
    await harness.client.schedule.getHandle(id).delete().catch(() => undefined);
  }
  await harness.close();
});

test('device metadata older than the retention period is purged; newer clicks and the counts stay', async () => {
  const org = await harness.seedOrg();
  const clicked = await harness.service.recordClick({ code: org.code, visitorId: randomUUID(), ipAddress: '203.0.113.5', userAgent: 'Test/1.0', metadata: { shareChannel: 'sms', platform: 'android' } });
  await eventually(async () => ((await harness.pool.query('SELECT 1 FROM click_events WHERE referral_id = $1', [clicked.referralId])).rowCount ? true : undefined));
  const old = randomUUID();
  await harness.pool.query(
    `INSERT INTO click_events (id, referral_code_id, referral_id, mentor_id, org_id, occurred_at, visitor_hash, ip_hash, user_agent, device_metadata)
     SELECT $1, referral_code_id, referral_id, mentor_id, org_id, now() - interval '91 days', visitor_hash, 'old-ip-hash', 'Old/1.0', '{"shareChannel":"email","platform":"ios"}'
     FROM click_events WHERE referral_id = $2`,
    [old, clicked.referralId],
  );
  const countsBefore = (await harness.pool.query('SELECT * FROM get_attribution_counts($1)', [org.mentorId])).rows[0];

  const result = await harness.client.workflow.execute(deviceMetadataRetentionWorkflow, {
    taskQueue: harness.taskQueue,
    workflowId: `retention-test-${randomUUID()}`,
    args: [{ retentionDays: 90 }],
  });
  expect(result).toEqual({ purged: 1 });
  const rows = await harness.pool.query('SELECT id, ip_hash, user_agent, device_metadata FROM click_events WHERE referral_id = $1 ORDER BY occurred_at', [clicked.referralId]);
  expect(rows.rows).toEqual([
    { id: old, ip_hash: null, user_agent: null, device_metadata: { shareChannel: 'email' } },
    { id: clicked.clickId, ip_hash: expect.stringMatching(/^[0-9a-f]{64}$/), user_agent: 'Test/1.0', device_metadata: { shareChannel: 'sms', platform: 'android' } },
  ]);
  expect((await harness.pool.query('SELECT * FROM get_attribution_counts($1)', [org.mentorId])).rows[0]).toEqual(countsBefore);
});

test('the daily schedules are created once and found again on the next start-up', async () => {
  await ensureSchedules(harness.client, { retentionDays: 90, reconcile: true, taskQueue: harness.taskQueue });
  await ensureSchedules(harness.client, { retentionDays: 90, reconcile: true, taskQueue: harness.taskQueue });
  const description = await harness.client.schedule.getHandle(RETENTION_SCHEDULE_ID).describe();
  expect(description.spec.intervals).toMatchObject([{ every: 86_400_000 }]);
  expect(description.action).toMatchObject({ type: 'startWorkflow', workflowType: 'deviceMetadataRetentionWorkflow', args: [{ retentionDays: 90 }] });
  const reconciliation = await harness.client.schedule.getHandle(RECONCILIATION_SCHEDULE_ID).describe();
  expect(reconciliation.action).toMatchObject({ type: 'startWorkflow', workflowType: 'membershipReconciliationWorkflow', args: [{ lookbackHours: 48 }] });
});

test('a start-up with another retention period or no membership system changes the schedules to match', async () => {
  await ensureSchedules(harness.client, { retentionDays: 90, reconcile: true, taskQueue: harness.taskQueue });
  await ensureSchedules(harness.client, { retentionDays: 30, reconcile: false, taskQueue: harness.taskQueue });
  const description = await harness.client.schedule.getHandle(RETENTION_SCHEDULE_ID).describe();
  expect(description.action).toMatchObject({ workflowType: 'deviceMetadataRetentionWorkflow', args: [{ retentionDays: 30 }] });
  await expect(harness.client.schedule.getHandle(RECONCILIATION_SCHEDULE_ID).describe()).rejects.toThrow(ScheduleNotFoundError);
});
