/** The onboarding funnel in order; a referral only ever moves forward through it. */
export const FUNNEL_STAGES = ['clicked', 'installed', 'account_created', 'first_login'] as const;
export type FunnelStage = (typeof FUNNEL_STAGES)[number];
export const FUNNEL_STEPS = ['installed', 'account_created', 'first_login'] as const;
export type FunnelStep = (typeof FUNNEL_STEPS)[number];

export const ATTRIBUTION_STATUSES = [
  'pending',
  'confirmed',
  'expired',
  'superseded',
  'reversed',
  'rejected',
  'flagged',
] as const;
export type AttributionStatus = (typeof ATTRIBUTION_STATUSES)[number];

export interface StageAdvance {
  stage: FunnelStage;
  /** Steps passed over on the way, recorded as implied. */
  implied: FunnelStep[];
  advanced: boolean;
}

export function stageIndex(stage: FunnelStage): number {
  return FUNNEL_STAGES.indexOf(stage);
}

/** Moves forward to `step`; a step at or behind the current stage changes nothing. */
export function advanceStage(current: FunnelStage, step: FunnelStep): StageAdvance {
  const from = stageIndex(current);
  const to = stageIndex(step);
  if (to <= from) return { stage: current, implied: [], advanced: false };
  const implied = FUNNEL_STAGES.slice(from + 1, to) as FunnelStep[];
  return { stage: step, implied, advanced: true };
}

export function conversionRate(confirmed: number, clicks: number): number {
  if (clicks <= 0) return 0;
  return Math.min(1, confirmed / clicks);
}
