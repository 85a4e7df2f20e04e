// Dynamic numbers: a pool number lent to one purchase for a hold, then resting for a
// quarantine. The exclusion constraint on number_lendings is the guarantee; the SKIP LOCKED
// pick below only keeps concurrent requests from fighting over the same free number.
import { and, asc, eq, sql } from 'drizzle-orm';
import type { Database } from '../client.js';
import { numberLendings, offerNumbers, purchases, type Offer } from '../schema.js';
import { LedgerError, type Tx, rowsOf } from './shared.js';

/**
 * Picks the free pool number that has rested longest, and locks it for this transaction.
 * Throws pool_exhausted with the seconds until the soonest number comes free.
 */
export async function pickFreeNumber(tx: Tx, offer: Offer): Promise<string> {
  const free = await freeNumber(tx, offer.id);
  if (free) return free;
  // Numbers that look free but are locked are being lent right now by concurrent requests
  // whose lendings are not committed yet: computing the wait now would find no end for them.
  // Wait for those transactions to end (FOR SHARE: it waits for the lenders' locks but not
  // for other requests waiting likewise), then look again: that next statement sees what they
  // committed, so either a number came back free or the wait is computed from real lendings.
  const unsettled = rowsOf(
    await tx.execute(sql`
      select n.number from ${offerNumbers} n
       where n.offer_id = ${offer.id}
         and not exists (select 1 from ${numberLendings} l where l.number = n.number and l.rest_until > now())
         for share of n`),
  );
  const settled = unsettled.length > 0 ? await freeNumber(tx, offer.id) : null;
  if (settled) return settled;
  throw new LedgerError('pool_exhausted', 'Every number of this offer is lent or resting.', {
    retryAfterSeconds: await secondsUntilFree(tx, offer.id),
  });
}

/** The free number that has rested longest, locked; numbers other requests hold are skipped. */
async function freeNumber(tx: Tx, offerId: string): Promise<string | null> {
  const rows = rowsOf<{ number: string }>(
    await tx.execute(sql`
      select n.number
        from ${offerNumbers} n
       where n.offer_id = ${offerId}
         and not exists (select 1 from ${numberLendings} l where l.number = n.number and l.rest_until > now())
       order by (select max(l.rest_until) from ${numberLendings} l where l.number = n.number) asc nulls first, n.number
       limit 1
         for update of n skip locked`),
  );
  return rows[0]?.number ?? null;
}

/**
 * Seconds until the soonest lent or resting number of the pool comes free (at least 1),
 * counted from clock_timestamp(): this transaction may have begun well before it got here.
 */
async function secondsUntilFree(tx: Tx, offerId: string): Promise<number> {
  const rows = (await tx.execute(sql`
    select ceil(extract(epoch from min(busy_until) - clock_timestamp()))::int as seconds from (
      select max(l.rest_until) as busy_until
        from ${offerNumbers} n join ${numberLendings} l on l.number = n.number
       where n.offer_id = ${offerId}
       group by n.number) b`)) as unknown;
  return Math.max(1, rowsOf<{ seconds: number | null }>(rows)[0]?.seconds ?? 1);
}

/** Records the lending of `number` to a new purchase, held until the purchase expires. */
export async function lendNumber(tx: Tx, offer: Offer, number: string, purchaseId: string): Promise<void> {
  const holdUntil = sql`(select ${purchases.expiresAt} from ${purchases} where ${purchases.id} = ${purchaseId})`;
  await tx.insert(numberLendings).values({
    offerId: offer.id,
    number,
    purchaseId,
    holdUntil,
    restUntil: sql`${holdUntil} + make_interval(secs => ${offer.quarantineSeconds ?? 0})`,
  });
}

/**
 * Extends a live hold by the offer's hold time from now, never past lent_at + maxHoldSeconds.
 * Returns the new end of the hold.
 */
export async function extendLending(tx: Tx, offer: Offer, purchaseId: string): Promise<Date> {
  const longest = sql`${numberLendings.lentAt} + make_interval(secs => ${offer.maxHoldSeconds ?? offer.holdSeconds})`;
  const [lending] = await tx
    .select({ id: numberLendings.id, holdUntil: numberLendings.holdUntil, atMaximum: sql<boolean>`${numberLendings.holdUntil} >= ${longest}` })
    .from(numberLendings)
    .where(and(eq(numberLendings.purchaseId, purchaseId), sql`${numberLendings.releasedAt} is null`, sql`${numberLendings.holdUntil} > now()`))
    .for('update');
  if (!lending) throw new LedgerError('purchase_not_pending', 'This purchase no longer holds a number.');
  if (lending.atMaximum) {
    throw new LedgerError('hold_at_maximum', 'The hold already reaches the longest time this offer allows.', {
      expiresAt: lending.holdUntil.toISOString(),
    });
  }
  // "From now" is clock_timestamp(), read here with the lock held: now() is when this
  // transaction began, and it may since have waited for a concurrent extension; extending
  // from then would land before the end that one just committed. greatest() keeps a hold
  // from ever shrinking.
  const [extended] = rowsOf<{ holdUntil: Date | string }>(
    await tx.execute(sql`
      update ${numberLendings} l
         set hold_until = e.target, rest_until = e.target + make_interval(secs => ${offer.quarantineSeconds ?? 0})
        from (select greatest(hold_until, least(clock_timestamp() + make_interval(secs => ${offer.holdSeconds}), ${longest})) as target
                from ${numberLendings} where id = ${lending.id}) e
       where l.id = ${lending.id}
      returning l.hold_until as "holdUntil"`),
  );
  await tx
    .update(purchases)
    .set({ expiresAt: sql`(select ${numberLendings.holdUntil} from ${numberLendings} where ${numberLendings.id} = ${lending.id})` })
    .where(eq(purchases.id, purchaseId));
  return new Date(extended!.holdUntil);
}

export interface PoolNumber {
  number: string;
  state: 'free' | 'lent' | 'resting';
  /** End of the hold (lent) or of the quarantine (resting); null when free. */
  until: string | null;
  purchaseId: string | null;
}

/** Each pool number and what it is doing now, for the operator. */
export async function poolStatus(db: Database, offerId: string): Promise<PoolNumber[]> {
  const numbers = await db
    .select({ number: offerNumbers.number })
    .from(offerNumbers)
    .where(eq(offerNumbers.offerId, offerId))
    .orderBy(asc(offerNumbers.number));
  const busy = await db
    .select({
      number: numberLendings.number,
      purchaseId: numberLendings.purchaseId,
      live: sql<boolean>`(${numberLendings.releasedAt} is null and ${numberLendings.holdUntil} > now())`,
      holdUntil: numberLendings.holdUntil,
      restUntil: numberLendings.restUntil,
    })
    .from(numberLendings)
    .innerJoin(offerNumbers, and(eq(offerNumbers.number, numberLendings.number), eq(offerNumbers.offerId, offerId)))
    .where(sql`${numberLendings.restUntil} > now()`);
  return numbers.map(({ number }) => {
    const l = busy.find((b) => b.number === number);
    if (!l) return { number, state: 'free', until: null, purchaseId: null };
    return l.live
      ? { number, state: 'lent', until: l.holdUntil.toISOString(), purchaseId: l.purchaseId }
      : { number, state: 'resting', until: l.restUntil.toISOString(), purchaseId: null };
  });
}
