import type { AttributionStatus, FunnelStage, FunnelStep } from './funnel';

/** Per-organisation windows and milestones, passed into each referral workflow when it starts. */
export interface OrgSettings {
  attributionWindowSeconds: number;
  confirmationWindowSeconds: number;
  dedupeWindowSeconds: number;
  badgeMilestones: number[];
}

export const DEFAULT_ORG_SETTINGS: OrgSettings = {
  attributionWindowSeconds: 30 * 24 * 3600,
  confirmationWindowSeconds: 14 * 24 * 3600,
  dedupeWindowSeconds: 24 * 3600,
  badgeMilestones: [1, 5, 10, 25, 50],
};

/** What never changes about a referral: whose link, which organisation, which visitor. */
export interface ReferralIdentity {
  referralId: string;
  workflowId: string;
  orgId: string;
  mentorId: string;
  referralCodeId: string;
  code: string;
  visitorHash: string | null;
  /** A registration that came without a tracked click. */
  direct: boolean;
}

/** Where every referral starts: the workflow's first state, and the search attributes its start carries. */
export const NEW_REFERRAL = { stage: 'clicked', status: 'pending', stuck: false } as const satisfies Pick<ReferralSnapshot, 'stage' | 'status' | 'stuck'>;

/** The referral's whole state as stored in Postgres; times are ISO 8601 strings. */
export interface ReferralSnapshot extends ReferralIdentity {
  stage: FunnelStage;
  impliedSteps: FunnelStep[];
  status: AttributionStatus;
  stuck: boolean;
  newMemberId: string | null;
  clickedAt: string;
  lastClickAt: string;
  installedAt: string | null;
  accountCreatedAt: string | null;
  firstLoginAt: string | null;
  confirmedAt: string | null;
  endedAt: string | null;
  /** Why the referral waits for a coordinator's review; kept after the review for the record. */
  flagReason?: string | null;
}

export interface ClickInput {
  clickId: string;
  occurredAt: string;
  ipHash: string | null;
  userAgent: string | null;
  metadata: Record<string, unknown>;
  /** The mentor's own account or device clicked. */
  selfReferral?: boolean;
  /** The code is getting clicks far above its normal rate. */
  burst?: boolean;
}

export interface ReviewInput {
  decision: 'approve' | 'reject';
  reviewerId: string;
  occurredAt: string;
}

/** A message the intake took for a referral: a click, or a funnel step from the app. */
export type TakenMessage = { kind: 'click'; message: ClickInput } | { kind: 'step'; message: FunnelStepInput };

export interface FunnelStepInput {
  type: FunnelStep;
  occurredAt: string;
  idempotencyKey: string;
  newMemberId?: string;
}

export type ConfirmationSource = 'app' | 'webhook' | 'reconciliation';

export interface ConfirmInput {
  newMemberId: string;
  occurredAt: string;
  source: ConfirmationSource;
}

export interface CancelInput {
  newMemberId: string;
  occurredAt: string;
}

export interface SupersedeInput {
  byReferralId: string;
  occurredAt: string;
}

/** The answer to a confirmation: which mentor the new member is attributed to, and how it stands. */
export interface ConversionRecord {
  referralId: string;
  orgId: string;
  mentorId: string;
  referralCodeId: string;
  newMemberId: string | null;
  status: AttributionStatus;
  direct: boolean;
  confirmedAt: string | null;
}

export interface ReferralEventInput {
  type: string;
  idempotencyKey: string;
  occurredAt: string;
  detail?: Record<string, unknown>;
}

export interface TimelineEntry {
  type: string;
  stage: FunnelStage;
  status: AttributionStatus;
  occurredAt: string;
  detail?: Record<string, unknown>;
}

export interface ReferralView {
  referral: ReferralSnapshot;
  countedClicks: number;
  duplicateClicks: number;
  timeline: TimelineEntry[];
}

export interface BadgeAward {
  id: string;
  mentorId: string;
  orgId: string;
  milestone: number;
  confirmedCount: number;
  awardedAt: string;
}

export function toConversionRecord(snapshot: ReferralSnapshot): ConversionRecord {
  return {
    referralId: snapshot.referralId,
    orgId: snapshot.orgId,
    mentorId: snapshot.mentorId,
    referralCodeId: snapshot.referralCodeId,
    newMemberId: snapshot.newMemberId,
    status: snapshot.status,
    direct: snapshot.direct,
    confirmedAt: snapshot.confirmedAt,
  };
}

/** A referral as loaded from Postgres, with its clicks. */
export interface StoredReferral {
  snapshot: ReferralSnapshot;
  /** When each counted click happened, oldest first. */
  countedClickTimes: string[];
  duplicateClicks: number;
  /** The ids of its latest clicks, oldest first. */
  clickIds: string[];
}

export function identityOf(snapshot: ReferralSnapshot): ReferralIdentity {
  const { referralId, workflowId, orgId, mentorId, referralCodeId, code, visitorHash, direct } = snapshot;
  return { referralId, workflowId, orgId, mentorId, referralCodeId, code, visitorHash, direct };
}
