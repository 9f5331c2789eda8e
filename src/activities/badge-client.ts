export interface BadgeAwardNotice {
  mentorId: string;
  orgId: string;
  milestone: number;
  confirmedCount: number;
  awardedAt: string;
}

export interface BadgeClient {
  award(notice: BadgeAwardNotice, idempotencyKey: string): Promise<void>;
}

export class BadgeServiceError extends Error {
  constructor(readonly status: number) {
    super(`badge service answered ${status}`);
    this.name = 'BadgeServiceError';
  }
}

/** POSTs awards to the badge service; with no URL configured there is no one to tell. */
export function createBadgeClient(url: string | undefined, timeoutMs = 10_000): BadgeClient {
  return {
    async award(notice, idempotencyKey) {
      if (!url) return;
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
        body: JSON.stringify(notice),
        signal: AbortSignal.timeout(timeoutMs),
      });
      // Any failure is retried by the activity: an award must reach the service in the end.
      if (!response.ok) throw new BadgeServiceError(response.status);
    },
  };
}
