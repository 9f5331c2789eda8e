import { condition, proxyLocalActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import { clickSignal, confirmUpdate, funnelStepSignal } from '../../src/workflows/messages';
import type { ConversionRecord } from '../../src/domain/referral';

/** The ceiling for benchmark 2: one activity that does nothing, local like the referral workflow's Postgres writes, with their retry policy. */
export interface BareActivities {
  noop(step: string): Promise<void>;
}

const { noop } = proxyLocalActivities<BareActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

/**
 * The same messages as the referral workflow (click, funnel step, confirmation update), calling a
 * no-op activity wherever the referral workflow calls one of its own for a referral's first run:
 * persist per click, risk check and persist for account_created, and confirm (which claims the badges).
 */
export async function bareJourneyWorkflow(): Promise<void> {
  let confirmed = false;
  let tail: Promise<unknown> = Promise.resolve();
  const serialized = <T>(work: () => Promise<T>): Promise<T> => {
    const result = tail.then(work);
    tail = result.catch(() => undefined);
    return result;
  };
  setHandler(clickSignal, () => serialized(() => noop('persist click')));
  setHandler(funnelStepSignal, () =>
    serialized(async () => {
      await noop('assess risk');
      await noop('persist step');
    }),
  );
  setHandler(confirmUpdate, (confirmation) =>
    serialized(async (): Promise<ConversionRecord> => {
      await noop('confirm');
      confirmed = true;
      const { workflowId } = workflowInfo();
      return {
        referralId: workflowId,
        orgId: 'bench',
        mentorId: 'bench',
        referralCodeId: 'bench',
        newMemberId: confirmation.newMemberId,
        status: 'confirmed',
        direct: false,
        confirmedAt: confirmation.occurredAt,
      };
    }),
  );
  await condition(() => confirmed);
}
