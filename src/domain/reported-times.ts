/** When a message says something happened, as far as its sender's clock can be believed. */

/** As the sender says, but not later than it arrived: a clock set ahead, or a local time labelled UTC. */
export function notLaterThan(claimed: string | undefined, received: Date): string {
  return new Date(Math.min(claimed === undefined ? received.getTime() : Date.parse(claimed), received.getTime())).toISOString();
}

/**
 * When a funnel step happened: the app's clock, unless it cannot be right. A phone's clock may be reset or set wrong,
 * so a step is taken as no later than the service received it, and no earlier than its referral began.
 */
export function plausibleStepTime(claimed: string | undefined, referralBegan: string | undefined, received: Date): string {
  const at = notLaterThan(claimed, received);
  if (referralBegan === undefined) return at;
  return new Date(Math.max(Date.parse(at), Math.min(Date.parse(referralBegan), received.getTime()))).toISOString();
}
