// Access codes (classic ticketing): the caller's formula on an access-code number (a purchase of
// mode access_code, opened by its first call, with no merchant request), the code its last
// counted call issues, and the merchant's redemption. Rules in domain/access-code.ts.
//
// Concurrency: simultaneous first calls of one caller on one number are serialised by an
// advisory lock on (number, caller), so they share one formula; the formula row itself is then
// locked like any purchase. A code is consumed by one conditional UPDATE (redeemed_at is null),
// so exactly one of any number of concurrent redemptions wins. Failed redemptions and checks
// are counted per merchant under an advisory lock on the merchant, so the guessing bound holds
// across every API process.
import { randomInt } from 'node:crypto';
import { and, desc, eq, getTableColumns, gt, sql } from 'drizzle-orm';
import {
  canFollowCaller,
  codeState,
  drawCode,
  isCodeShape,
  REDEEM_FAILURE_WINDOW_SECONDS,
  REDEEM_FAILURES_PER_WINDOW,
  type CodeState,
} from '../../domain/index.js';
import { codeWebhookBody, type CodeEventData, type CodeWebhookType } from '../../domain/webhook-event.js';
import type { Database } from '../client.js';
import { accessCodes, codeRedeemFailures, merchants, offerNumbers, offers, purchases, webhookDeliveries } from '../schema.js';
import { endPurchase, LedgerError, noCallInProgress, purchaseWithClock, recordEvent, type PurchaseWithClock, type Tx } from './shared.js';

/**
 * The caller's live formula on an access-code number, locked, opened now if they have none (or
 * only a lapsed one: its window is over, its calls are lost, as on any ticketing platform).
 * Null when the caller cannot be followed (withheld on a multi-call formula): the decision
 * refuses them unanswered.
 */
export async function formulaForCall(tx: Tx, dialed: string, caller: string | null): Promise<PurchaseWithClock | null> {
  const [offer] = await tx
    .select()
    .from(offers)
    .innerJoin(offerNumbers, eq(offerNumbers.offerId, offers.id))
    .where(and(eq(offerNumbers.number, dialed), eq(offers.mode, 'access_code')))
    .limit(1);
  if (!offer || !canFollowCaller(caller, offer.offers.callsRequired)) return null;
  const o = offer.offers;
  if (caller) {
    // Two first calls at once must open one formula, not two.
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`formula:${dialed}:${caller}`}))`);
    const [latest] = await tx
      .select(purchaseWithClock)
      .from(purchases)
      .where(and(eq(purchases.mode, 'access_code'), eq(purchases.numberToCall, dialed), eq(purchases.callerNumber, caller), eq(purchases.status, 'pending')))
      .orderBy(desc(purchases.createdAt))
      .limit(1)
      .for('update');
    if (latest && !latest.lapsed) return latest;
    if (latest) {
      // Written expired unless a call under way may still count for it (it keeps its credit).
      const [idle] = (await tx.execute(sql`select ${noCallInProgress(latest.id)} as ok`)) as unknown as { ok: boolean }[];
      if (idle?.ok) await endPurchase(tx, latest.id, 'expired', latest.callsCounted);
    }
  }
  const [row] = await tx
    .insert(purchases)
    .values({
      merchantId: o.merchantId,
      offerId: o.id,
      mode: 'access_code',
      callerNumber: caller,
      numberToCall: dialed,
      callsRequired: o.callsRequired,
      minCallSeconds: o.minCallSeconds,
      language: o.language,
      expiresAt: sql`now() + make_interval(secs => ${o.formulaWindowSeconds!})`,
    })
    .returning({ id: purchases.id });
  await recordEvent(tx, row!.id, 'created');
  const [opened] = await tx.select(purchaseWithClock).from(purchases).where(eq(purchases.id, row!.id)).for('update');
  return opened!;
}

/** Draws that may collide with an unredeemed code before we give up (10^8 codes: never in practice). */
const DRAW_ATTEMPTS = 20;

/**
 * Issues the code of a formula that its call `callId` has just completed, in the transaction of
 * that count, with its `code.issued` event. Returns the code: only the IVR (to speak it) and
 * the operator ever see it.
 */
export async function issueCode(tx: Tx, formula: PurchaseWithClock, callId: string): Promise<string> {
  const [offer] = await tx.select({ codeTtlSeconds: offers.codeTtlSeconds }).from(offers).where(eq(offers.id, formula.offerId));
  for (let attempt = 1; attempt <= DRAW_ATTEMPTS; attempt++) {
    const code = drawCode((n) => randomInt(n));
    // The partial unique index rejects a value still unredeemed: draw again.
    const [row] = await tx
      .insert(accessCodes)
      .values({
        code,
        merchantId: formula.merchantId,
        offerId: formula.offerId,
        purchaseId: formula.id,
        callId,
        callerNumber: formula.callerNumber,
        dialedNumber: formula.numberToCall,
        callsCounted: formula.callsRequired,
        expiresAt: sql`now() + make_interval(secs => ${offer!.codeTtlSeconds!})`,
      })
      .onConflictDoNothing()
      .returning();
    if (!row) continue;
    await recordCodeEvent(tx, row, 'code_issued');
    return code;
  }
  throw new Error('could not draw a free access code');
}

type CodeRow = typeof accessCodes.$inferSelect;

/** A code as the merchant who owns it sees it. */
export interface CodeView {
  code: string;
  offerId: string;
  status: CodeState;
  callsCounted: number;
  issuedAt: string;
  expiresAt: string;
  redeemedAt: string | null;
  reference: string | null;
}

/** A code as the operator sees it (support: a caller who lost their code). */
export interface IssuedCodeView extends CodeView {
  merchantId: string;
  purchaseId: string;
  callId: string | null;
  callerNumber: string | null;
  dialedNumber: string;
}

const codeWithClock = { ...getTableColumns(accessCodes), lapsed: sql<boolean>`(${accessCodes.expiresAt} <= now())` };
type CodeWithClock = CodeRow & { lapsed: boolean };

function toCodeView(c: CodeWithClock): CodeView {
  return {
    code: c.code,
    offerId: c.offerId,
    status: codeState(c),
    callsCounted: c.callsCounted,
    issuedAt: c.issuedAt.toISOString(),
    expiresAt: c.expiresAt.toISOString(),
    redeemedAt: c.redeemedAt?.toISOString() ?? null,
    reference: c.reference,
  };
}

/**
 * Consumes a merchant's code, once. Every failure (unknown or another merchant's code, already
 * used, expired) counts against the merchant's guessing budget, and is recorded even though the
 * request is refused.
 */
export async function redeemCode(db: Database, merchantId: string, code: string, reference: string | null): Promise<CodeView> {
  const outcome = await db.transaction(async (tx) => {
    await spendGuard(tx, merchantId);
    if (isCodeShape(code)) {
      const [won] = await tx
        .update(accessCodes)
        .set({ redeemedAt: sql`now()`, reference })
        .where(and(eq(accessCodes.code, code), eq(accessCodes.merchantId, merchantId), sql`${accessCodes.redeemedAt} is null`, gt(accessCodes.expiresAt, sql`now()`)))
        .returning();
      if (won) {
        await recordCodeEvent(tx, won, 'code_redeemed');
        return { ok: true as const, view: toCodeView({ ...won, lapsed: false }) };
      }
    }
    const found = await ownCode(tx, merchantId, code);
    await tx.insert(codeRedeemFailures).values({ merchantId });
    return { ok: false as const, found };
  });
  if (outcome.ok) return outcome.view;
  throw refusalFor(outcome.found);
}

/** Reads a merchant's code without consuming it; an unknown code counts as a failed guess. */
export async function checkCode(db: Database, merchantId: string, code: string): Promise<CodeView> {
  const found = await db.transaction(async (tx) => {
    await spendGuard(tx, merchantId);
    const row = await ownCode(tx, merchantId, code);
    if (!row) await tx.insert(codeRedeemFailures).values({ merchantId });
    return row;
  });
  if (!found) throw refusalFor(null);
  return toCodeView(found);
}

function refusalFor(found: CodeWithClock | null): LedgerError {
  if (!found) return new LedgerError('code_not_found', 'No such code.');
  if (found.redeemedAt) return new LedgerError('code_already_used', 'This code has already been redeemed.', { redeemedAt: found.redeemedAt.toISOString() });
  if (found.lapsed) return new LedgerError('code_expired', 'This code has expired.', { expiredAt: found.expiresAt.toISOString() });
  // Valid, yet the UPDATE did not take it: impossible under the merchant lock.
  return new LedgerError('code_not_found', 'No such code.');
}

/**
 * The merchant's code with this value: the unredeemed one if any (a value is unique among
 * those), else the most recently redeemed. Another merchant's code does not exist here.
 */
async function ownCode(tx: Tx, merchantId: string, code: string): Promise<CodeWithClock | null> {
  if (!isCodeShape(code)) return null;
  const [row] = await tx
    .select(codeWithClock)
    .from(accessCodes)
    .where(and(eq(accessCodes.code, code), eq(accessCodes.merchantId, merchantId)))
    .orderBy(sql`${accessCodes.redeemedAt} is not null`, desc(accessCodes.redeemedAt))
    .limit(1);
  return row ?? null;
}

/**
 * Serialises this merchant's redemptions and refuses them (429) while it has used up its
 * failure budget; old failures are forgotten as they leave the window.
 */
async function spendGuard(tx: Tx, merchantId: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`redeem:${merchantId}`}))`);
  await tx
    .delete(codeRedeemFailures)
    .where(and(eq(codeRedeemFailures.merchantId, merchantId), sql`${codeRedeemFailures.failedAt} <= now() - make_interval(secs => ${REDEEM_FAILURE_WINDOW_SECONDS})`));
  const [budget] = await tx
    .select({
      failures: sql<number>`count(*)::int`,
      retryAfter: sql<number>`coalesce(ceil(extract(epoch from min(${codeRedeemFailures.failedAt}) + make_interval(secs => ${REDEEM_FAILURE_WINDOW_SECONDS}) - now())), 1)::int`,
    })
    .from(codeRedeemFailures)
    .where(eq(codeRedeemFailures.merchantId, merchantId));
  if ((budget?.failures ?? 0) >= REDEEM_FAILURES_PER_WINDOW) {
    throw new LedgerError('too_many_failed_redemptions', `More than ${REDEEM_FAILURES_PER_WINDOW} failed redemptions in ${REDEEM_FAILURE_WINDOW_SECONDS} s.`, {
      retryAfterSeconds: Math.max(1, budget!.retryAfter),
    });
  }
}

export interface CodeQuery {
  /** E.164 caller. */
  caller?: string | undefined;
  offerId?: string | undefined;
  limit: number;
}

/** Codes issued, newest first: the operator finds the code of a caller who lost it. */
export async function listCodes(db: Database, q: CodeQuery): Promise<IssuedCodeView[]> {
  const rows = await db
    .select(codeWithClock)
    .from(accessCodes)
    .where(and(q.caller ? eq(accessCodes.callerNumber, q.caller) : undefined, q.offerId ? eq(accessCodes.offerId, q.offerId) : undefined))
    .orderBy(desc(accessCodes.issuedAt))
    .limit(q.limit);
  return rows.map((c) => ({
    ...toCodeView(c),
    merchantId: c.merchantId,
    purchaseId: c.purchaseId,
    callId: c.callId,
    callerNumber: c.callerNumber,
    dialedNumber: c.dialedNumber,
  }));
}

const webhookTypeOfCodeEvent: Record<'code_issued' | 'code_redeemed', CodeWebhookType> = { code_issued: 'code.issued', code_redeemed: 'code.redeemed' };

/**
 * Records a code event on its formula (audit trail, live stream) and queues its webhook. The
 * webhook carries the offer and the calls, never the code itself.
 */
async function recordCodeEvent(tx: Tx, code: CodeRow, type: 'code_issued' | 'code_redeemed'): Promise<void> {
  const event = await recordEvent(tx, code.purchaseId, type);
  const [merchant] = await tx.select({ url: merchants.webhookUrl }).from(merchants).where(eq(merchants.id, code.merchantId));
  if (!merchant?.url) return;
  const webhookType = webhookTypeOfCodeEvent[type];
  const data: CodeEventData = {
    offerId: code.offerId,
    purchaseId: code.purchaseId,
    callsCounted: code.callsCounted,
    issuedAt: code.issuedAt.toISOString(),
    expiresAt: code.expiresAt.toISOString(),
    redeemedAt: code.redeemedAt?.toISOString() ?? null,
    reference: code.reference,
  };
  const body = codeWebhookBody({ purchaseEventId: event.id, type: webhookType, createdAt: event.createdAt, code: data });
  await tx.insert(webhookDeliveries).values({ merchantId: code.merchantId, purchaseId: code.purchaseId, eventId: event.id, type: webhookType, body });
}
