import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type {
  CancelInput,
  ClickInput,
  ConfirmInput,
  ConversionRecord,
  FunnelStepInput,
  ReferralView,
  ReviewInput,
  SupersedeInput,
  TakenMessage,
} from '../domain/referral';

/** Defined once, imported by the workflow and by the API that sends them. */
export const clickSignal = defineSignal<[ClickInput]>('click');
export const funnelStepSignal = defineSignal<[FunnelStepInput]>('funnelStep');
/** What the intake took for a referral and held together, in the order it was taken: one signal for them all. */
export const takenSignal = defineSignal<[TakenMessage[]]>('taken');
export const cancelSignal = defineSignal<[CancelInput]>('cancel');
export const supersedeSignal = defineSignal<[SupersedeInput]>('supersede');
export const reviewSignal = defineSignal<[ReviewInput]>('review');
/** A confirmation, with what the intake still held for the referral, taken first: one call, and one task, for them all. */
export const confirmUpdate = defineUpdate<ConversionRecord, [ConfirmInput, TakenMessage[]?]>('confirm');
export const stateQuery = defineQuery<ReferralView>('state');
/** An invitation's email sent again (the API allows it once a day). */
export const resendInvitationSignal = defineSignal('resendInvitation');

export const TASK_QUEUE = 'referrals';
