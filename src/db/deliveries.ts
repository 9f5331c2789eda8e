import type { Pool } from 'pg';

/** A delivery's first answer, as it was sent. */
export interface DeliveryAnswer {
  status: number;
  answer: unknown;
}

/** The membership system's deliveries and cancellations. */
export function createDeliveryStore(pool: Pool) {
  return {
    async answerOf(deliveryId: string): Promise<DeliveryAnswer | undefined> {
      return (await pool.query<DeliveryAnswer>({ name: 'deliveries.answer-of', text: 'SELECT status, answer FROM webhook_deliveries WHERE delivery_id = $1', values: [deliveryId] })).rows[0];
    },

    /** Keeps the first answer of a delivery; a copy answered at the same moment gets the one that was kept. */
    async keep(deliveryId: string, event: string, answer: DeliveryAnswer): Promise<DeliveryAnswer> {
      const kept = await pool.query<DeliveryAnswer>({
        name: 'deliveries.keep',
        text: `WITH kept AS (
           INSERT INTO webhook_deliveries (delivery_id, event, status, answer) VALUES ($1, $2, $3, $4)
           ON CONFLICT (delivery_id) DO NOTHING RETURNING status, answer)
         SELECT status, answer FROM kept UNION ALL SELECT status, answer FROM webhook_deliveries WHERE delivery_id = $1 LIMIT 1`,
        values: [deliveryId, event, answer.status, JSON.stringify(answer.answer)],
      });
      return kept.rows[0];
    },

    async recordCancellation(orgId: string, newMemberId: string, at: string): Promise<void> {
      await pool.query(
        `INSERT INTO member_cancellations (org_id, new_member_id, cancelled_at) VALUES ($1, $2, $3)
         ON CONFLICT (org_id, new_member_id) DO UPDATE SET cancelled_at = greatest(member_cancellations.cancelled_at, EXCLUDED.cancelled_at)`,
        [orgId, newMemberId, at],
      );
    },
  };
}
