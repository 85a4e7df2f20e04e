// Caller-ID identity (issue 13) in the ledger: creation limits per phone number and per buyer
// address, the caller's dispute ("not my purchase"), the recorded names a caller hears, and a
// caller's rights (everything recorded about a number; anonymisation after retention).
import { createHmac } from 'node:crypto';
import { and, desc, eq, getTableColumns, sql, type AnyColumn, type SQL } from 'drizzle-orm';
import { creationAllowed, type PurchaseIdentity, type PurchaseLimits, type PurchaseView } from '../../domain/index.js';
import type { Database } from '../client.js';
import { accessCodes, calls, merchants, offers, purchases, type CallRow } from '../schema.js';
import { listCodes, type IssuedCodeView } from './codes.js';
import { sharedSecret } from './app-state.js';
import { jsonTextArray, LedgerError, purchaseById, purchaseWithClock, recordEvent, toPurchaseView, type Tx } from './shared.js';

/** The key of client-ip-hash, per database: a secret is created once and never changes. */
const ipHashKeys = new WeakMap<Database, Promise<Buffer>>();

/**
 * The buyer's address as stored: HMAC-SHA256 under a key kept in the database (`secrets`), so
 * equal addresses compare equal across API processes while the table alone does not reveal
 * them (an unkeyed hash of an IPv4 address is reversed by trying them all). The key is read
 * once per process (a stored secret is never replaced), not on every creation.
 */
export async function clientIpHash(db: Database, clientIp: string): Promise<string> {
  let key = ipHashKeys.get(db);
  if (!key) {
    key = sharedSecret(db, 'client-ip-hash');
    ipHashKeys.set(db, key);
    key.catch(() => ipHashKeys.delete(db));
  }
  return createHmac('sha256', await key).update(clientIp.trim().toLowerCase()).digest('hex');
}

/** Who a creation counts against: the phone number (caller_id offers only) and the buyer address hash. */
export interface CreationIdentity {
  callerNumber: string | null;
  clientIpHash: string | null;
}

/**
 * SQL expression that takes the advisory locks serialising, across processes, the creations
 * for this phone number and this buyer address, always in this order (number, then address),
 * held until the transaction ends. It is evaluated in the statement that reads the offer, once
 * for the offer's row (`offerMode` is its mode column): the number's lock for a caller_id offer
 * only, the address's for any offer that creates purchases (unnest yields them in array
 * order). The limits are then read by creationAges in a LATER statement: under READ COMMITTED
 * each statement takes its snapshot when it starts, so only a statement after the lock sees
 * every creation committed by the lock's previous holder.
 *
 * The keys are placeholders (the statement is built once, built-once.ts): creationLimitLockKeys
 * gives their values.
 */
export function creationLimitLocks(offerMode: SQL | AnyColumn): SQL {
  return sql`(select count(pg_advisory_xact_lock(hashtextextended(k, 0)))
      from unnest(array[case when ${offerMode} = 'caller_id' then ${sql.placeholder('numberLockKey')}::text end,
                        case when ${offerMode} <> 'access_code' then ${sql.placeholder('addressLockKey')}::text end]) as t(k)
     where k is not null)`;
}

/** The values of creationLimitLocks' placeholders for `who` (null: no lock on that). */
export function creationLimitLockKeys(who: CreationIdentity): { numberLockKey: string | null; addressLockKey: string | null } {
  return {
    numberLockKey: who.callerNumber ? `sanscode:purchases:caller:${who.callerNumber}` : null,
    addressLockKey: who.clientIpHash ? `sanscode:purchases:ip:${who.clientIpHash}` : null,
  };
}

/**
 * Takes creationLimitLocks for several creations written together (creation-batch.ts): each
 * key of theirs once, in the keys' order. The order is the point: every transaction that takes
 * these locks takes them in one global order (a lone creation takes its number's before its
 * address's, and "sanscode:purchases:caller:" sorts before "sanscode:purchases:ip:"), so no
 * two ever wait for each other in a circle. The subquery's ORDER BY keeps PostgreSQL from
 * flattening it: the aggregate calls the lock function row by row, in that order. A number is
 * locked here whatever its offer's mode (a lone creation locks it for caller_id offers only):
 * one lock more, never one less.
 */
export async function takeCreationLimitLocks(tx: Tx, whos: readonly CreationIdentity[]): Promise<void> {
  const keys = new Set<string>();
  for (const who of whos) {
    const { numberLockKey, addressLockKey } = creationLimitLockKeys(who);
    if (numberLockKey) keys.add(numberLockKey);
    if (addressLockKey) keys.add(addressLockKey);
  }
  if (keys.size === 0) return;
  await tx.execute(sql`select count(pg_advisory_xact_lock(hashtextextended(k, 0)))
      from (select k from json_array_elements_text(${JSON.stringify([...keys])}::json) as t(k) order by k collate "C") s`);
}

/** The window's lower bound and each creation's age in it, by the database's clock: the one definition of the window. */
const ageOf = sql`extract(epoch from now() - p.created_at)::float8`;
const inWindow = (limits: PurchaseLimits) => sql`p.created_at > now() - make_interval(secs => ${limits.windowSeconds})`;

/**
 * SQL expression: the ages (seconds, by the database's clock) of the creations in the window
 * matching `where`, as a JSON array.
 */
function agesInWindow(where: SQL, limits: PurchaseLimits): SQL {
  return sql`(select coalesce(json_agg(${ageOf}), '[]'::json)
      from ${purchases} p where ${where} and ${inWindow(limits)})`;
}

/**
 * SQL expressions reading the CreationAges of several creations at once: JSON objects from
 * each phone number (each buyer address hash) to the ages of the creations in the window for
 * it; one absent from an object has none. Same rule and same statement order as creationAges
 * (after takeCreationLimitLocks, in the same transaction).
 */
export function creationAgesOfMany(callerNumbers: readonly string[], ipHashes: readonly string[], limits: PurchaseLimits): { byNumber: SQL; byAddress: SQL } {
  const agesBy = (column: SQL, keys: readonly string[]) => sql`(select coalesce(json_object_agg(k, ages), '{}'::json) from (
      select ${column} as k, json_agg(${ageOf}) as ages from ${purchases} p
       where ${column} = any(${jsonTextArray(keys)}) and ${inWindow(limits)}
       group by ${column}) a)`;
  return { byNumber: agesBy(sql`p.caller_number`, callerNumbers), byAddress: agesBy(sql`p.client_ip_hash`, ipHashes) };
}

/** The ages in the window of the creations a new one counts against (null: not limited on that). */
export interface CreationAges {
  byNumber: number[] | null;
  byAddress: number[] | null;
}

/**
 * SQL expressions reading the CreationAges of `who` (JSON arrays), to be selected in a
 * statement that runs after the one that took creationLimitLocks (the same `who`), in the same
 * transaction.
 */
export function creationAges(who: CreationIdentity, limits: PurchaseLimits): { byNumber: SQL | null; byAddress: SQL | null } {
  return {
    byNumber: who.callerNumber ? agesInWindow(sql`p.caller_number = ${who.callerNumber}`, limits) : null,
    byAddress: who.clientIpHash ? agesInWindow(sql`p.client_ip_hash = ${who.clientIpHash}`, limits) : null,
  };
}

/**
 * Refuses (too_many_purchases, 429 + Retry-After) a creation past the limits: purchases for
 * this phone number across all merchants, and from this buyer address across numbers, in the
 * sliding window. Exact under concurrency and across API processes: the ages are read in the
 * creating transaction, by a statement after the one that took creationLimitLocks, and those
 * locks are held until the purchase is committed. The same queries run whatever the answer, so
 * its timing tells nothing about other merchants either.
 */
export function refuseBeyondLimits(ages: CreationAges, limits: PurchaseLimits): void {
  if (ages.byNumber) {
    const verdict = creationAllowed(ages.byNumber, limits.perNumber, limits.windowSeconds);
    if (!verdict.allowed) {
      throw new LedgerError('too_many_purchases', `Too many purchases for this phone number in the last ${limits.windowSeconds / 60} minutes.`, {
        retryAfterSeconds: verdict.retryAfterSeconds,
      });
    }
  }
  if (ages.byAddress) {
    const verdict = creationAllowed(ages.byAddress, limits.perClientIp, limits.windowSeconds);
    if (!verdict.allowed) {
      throw new LedgerError('too_many_purchases', `Too many purchases from this buyer address in the last ${limits.windowSeconds / 60} minutes.`, {
        retryAfterSeconds: verdict.retryAfterSeconds,
      });
    }
  }
}

/** The recorded names of a purchase's merchant and offer: what the caller hears before the answer. */
export async function purchaseIdentity(tx: Tx, purchaseId: string): Promise<PurchaseIdentity> {
  const [row] = await tx
    .select({ merchantNameSound: merchants.nameSound, offerNameSound: offers.nameSound })
    .from(purchases)
    .innerJoin(merchants, eq(merchants.id, purchases.merchantId))
    .innerJoin(offers, eq(offers.id, purchases.offerId))
    .where(eq(purchases.id, purchaseId));
  return row ?? { merchantNameSound: null, offerNameSound: null };
}

/**
 * The caller hung up during the identity prompt of an admitted, unanswered call: "I did not
 * make this purchase". The call is recorded `disputed` (never answered, never billed) and its
 * purchase marked disputed (once: disputedAt, a `disputed` event, the `purchase.disputed`
 * webhook). The purchase stays pending: its merchant decides. Idempotent; does nothing to a
 * call already answered or closed.
 */
export async function disputeCall(db: Database, channelId: string): Promise<PurchaseView | null> {
  return db.transaction(async (tx) => {
    const [call] = await tx.select().from(calls).where(eq(calls.channelId, channelId)).for('update');
    if (!call || call.outcome !== 'in_progress' || call.answeredAt || call.endedAt || !call.purchaseId) return null;
    await tx.update(calls).set({ outcome: 'disputed' }).where(eq(calls.id, call.id));
    const [p] = await tx.select(purchaseWithClock).from(purchases).where(eq(purchases.id, call.purchaseId)).for('update');
    if (p!.disputedAt === null) {
      await tx.update(purchases).set({ disputedAt: sql`now()` }).where(eq(purchases.id, p!.id));
      await recordEvent(tx, p!.id, 'disputed', call.id);
    }
    return toPurchaseView(await purchaseById(tx, p!.id));
  });
}

/** A purchase in a caller's record: the purchase and whose it is. */
export interface CallerPurchase extends PurchaseView {
  merchantId: string;
  merchantName: string;
}

/** Everything recorded about one phone number (GET /v1/admin/callers/{number}). */
export interface CallerRecord {
  number: string;
  purchases: CallerPurchase[];
  calls: (CallRow & { issuedCode: string | null })[];
  /** Access codes issued to this number (access_code offers), newest first. */
  codes: IssuedCodeView[];
}

export async function callerRecord(db: Database, number: string): Promise<CallerRecord> {
  const [rows, callRows, codes] = await Promise.all([
    db
      .select({ ...purchaseWithClock, merchantName: merchants.name })
      .from(purchases)
      .innerJoin(merchants, eq(merchants.id, purchases.merchantId))
      .where(eq(purchases.callerNumber, number))
      .orderBy(desc(purchases.createdAt)),
    db
      .select({ ...getTableColumns(calls), issuedCode: accessCodes.code })
      .from(calls)
      .leftJoin(accessCodes, eq(accessCodes.callId, calls.id))
      .where(eq(calls.callerNumber, number))
      .orderBy(desc(calls.startedAt)),
    listCodes(db, { caller: number, limit: 1000 }),
  ]);
  return {
    number,
    purchases: rows.map((r) => ({ ...toPurchaseView(r), merchantId: r.merchantId, merchantName: r.merchantName })),
    calls: callRows,
    codes,
  };
}

export interface Anonymisation {
  number: string;
  retentionDays: number;
  anonymisedPurchases: number;
  anonymisedCalls: number;
  /** Records still inside the retention period (or a purchase still pending): kept as they are. */
  keptPurchases: number;
  keptCalls: number;
  /** When every record kept now may be anonymised; null when none is kept. */
  erasableFrom: Date | null;
}

/**
 * Erases a caller's personal data from records older than the retention period: the phone
 * number (purchases, calls, the raw caller ID) and the buyer address hash. What is kept are the
 * money facts the ledger and the carrier's reconciliation need: amounts (calls required and
 * counted), times, outcomes, dialed numbers, merchants. A record whose end (a purchase's end or
 * expiry, a call's end) is younger than `retentionDays`, or a purchase still live, is kept
 * untouched and counted in the answer. One transaction; running it again changes nothing.
 */
export async function anonymiseCaller(db: Database, number: string, retentionDays: number): Promise<Anonymisation> {
  return db.transaction(async (tx) => {
    const cutoff = sql`now() - make_interval(days => ${retentionDays})`;
    const purchaseEnd = sql`coalesce(${purchases.endedAt}, ${purchases.expiresAt})`;
    const purchaseErasable = sql`(${purchases.status} <> 'pending' or ${purchases.expiresAt} <= now()) and ${purchaseEnd} < ${cutoff}`;
    const callErasable = sql`${calls.endedAt} is not null and ${calls.endedAt} < ${cutoff}`;
    const erasedPurchases = await tx
      .update(purchases)
      .set({ callerNumber: null, clientIpHash: null, anonymisedAt: sql`now()` })
      .where(and(eq(purchases.callerNumber, number), purchaseErasable))
      .returning({ id: purchases.id });
    const erasedCalls = await tx
      .update(calls)
      .set({ callerNumber: null, callerRaw: 'anonymised', anonymisedAt: sql`now()` })
      .where(and(eq(calls.callerNumber, number), callErasable))
      .returning({ id: calls.id });
    // A code's caller number goes with its formula's purchase (same caller, same retention).
    await tx
      .update(accessCodes)
      .set({ callerNumber: null })
      .where(and(eq(accessCodes.callerNumber, number), sql`${accessCodes.purchaseId} in (select id from ${purchases} where ${purchases.anonymisedAt} is not null)`));
    const [keptP] = await tx
      .select({ n: sql<number>`count(*)::int`, until: sql<Date | null>`max(greatest(${purchaseEnd}, now())) + make_interval(days => ${retentionDays})` })
      .from(purchases)
      .where(eq(purchases.callerNumber, number));
    const [keptC] = await tx
      .select({ n: sql<number>`count(*)::int`, until: sql<Date | null>`max(coalesce(${calls.endedAt}, now())) + make_interval(days => ${retentionDays})` })
      .from(calls)
      .where(eq(calls.callerNumber, number));
    const untils = [keptP?.until, keptC?.until].filter((d): d is Date => d !== null && d !== undefined).map((d) => new Date(d));
    return {
      number,
      retentionDays,
      anonymisedPurchases: erasedPurchases.length,
      anonymisedCalls: erasedCalls.length,
      keptPurchases: keptP?.n ?? 0,
      keptCalls: keptC?.n ?? 0,
      erasableFrom: untils.length ? new Date(Math.max(...untils.map((d) => d.getTime()))) : null,
    };
  });
}

/** Sets the recorded name callers hear for a merchant (null: the generic sentence); null if no such merchant. */
export async function setMerchantNameSound(db: Database, merchantId: string, sound: string | null): Promise<{ id: string; nameSound: string | null } | null> {
  const [row] = await db.update(merchants).set({ nameSound: sound }).where(eq(merchants.id, merchantId)).returning({ id: merchants.id, nameSound: merchants.nameSound });
  return row ?? null;
}

/** Sets the recorded name callers hear for an offer (what is sold; null: none); null if no such offer. */
export async function setOfferNameSound(db: Database, offerId: string, sound: string | null): Promise<{ id: string; nameSound: string | null } | null> {
  const [row] = await db.update(offers).set({ nameSound: sound }).where(eq(offers.id, offerId)).returning({ id: offers.id, nameSound: offers.nameSound });
  return row ?? null;
}
