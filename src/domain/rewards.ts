/** An organisation's reward rules (DESIGN.md section 10); amounts are integers: points, or a currency's minor units. */
export interface RewardRules {
  /** `points` or an ISO 4217 currency code. */
  unit: string;
  perConfirmedRecruit: number;
  milestoneBonuses: { milestone: number; amount: number }[];
  /** A multiplier of the recruit's reward for confirmations from `from` (inclusive) to `to` (exclusive) on the campaign's links. */
  campaigns: { campaign: string; from: string; to: string; multiplier: number }[];
  welcomeReward?: { description: string };
  /** How long a new entry is held before it is confirmed. */
  holdingSeconds: number;
  /** A mentor's rewards in 30 days above this wait for a coordinator's approval. */
  approvalAbove?: number;
}

export const REWARD_STATUSES = ['pending', 'confirmed', 'reversed'] as const;
export type RewardStatus = (typeof REWARD_STATUSES)[number];

export interface RewardBalance {
  pending: number;
  confirmed: number;
  reversed: number;
}

export interface RewardEntry {
  id: string;
  referralId: string;
  /** `perConfirmedRecruit`, `milestoneBonus:<n>` or `correction`. */
  rule: string;
  amount: number;
  status: RewardStatus;
  /** A high-value entry waits for a coordinator's approval; null once decided or when none was needed. */
  awaiting: 'approval' | null;
  rulesVersion: number;
  detail: Record<string, unknown>;
  holdUntil: string;
  correctsEntryId: string | null;
  createdAt: string;
  confirmedAt: string | null;
  reversedAt: string | null;
  reversalReason: 'cancelled' | 'rejected' | null;
}
