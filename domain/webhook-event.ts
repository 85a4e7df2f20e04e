// Webhook events as merchants receive them (docs/webhooks.md): which purchase events they hear
// about, the public event id and the body. Defined once here, with no I/O: the ledger builds
// the body in the transaction of the change, the outbox and the sender name events with it.
// The signature of a body is webhooks/signature.ts.
import type { PurchaseView } from './purchase.js';

/** Webhook event type for each purchase event that merchants are told about. */
const typeByPurchaseEvent = {
  call_counted: 'purchase.progress',
  seconds_credited: 'purchase.progress',
  completed: 'purchase.completed',
  expired: 'purchase.expired',
  cancelled: 'purchase.cancelled',
  disputed: 'purchase.disputed',
} as const;

type NotifiedPurchaseEvent = keyof typeof typeByPurchaseEvent;
export type WebhookEventType = (typeof typeByPurchaseEvent)[NotifiedPurchaseEvent];

/** Webhook types of access codes (db/ledger/codes.ts queues them). */
export type CodeWebhookType = 'code.issued' | 'code.redeemed';

/** The webhook type of a purchase event, or null when merchants are not told about it. */
export function webhookTypeOf(purchaseEventType: string): WebhookEventType | null {
  return Object.hasOwn(typeByPurchaseEvent, purchaseEventType) ? typeByPurchaseEvent[purchaseEventType as NotifiedPurchaseEvent] : null;
}

/** Public id of the event recorded as purchase event `purchaseEventId`: what receivers de-duplicate by. */
export function eventIdOf(purchaseEventId: number): string {
  return `evt_${purchaseEventId}`;
}

/** What a receiver gets, as JSON. */
export interface WebhookEvent {
  id: string;
  type: WebhookEventType;
  createdAt: string;
  /** The purchase as it stood at this event. */
  data: PurchaseView;
}

/** The exact body sent for an event: fixed when the event happens, so every retry sends the same bytes. */
export function webhookEventBody(event: { purchaseEventId: number; type: WebhookEventType; createdAt: Date; purchase: PurchaseView }): string {
  const body: WebhookEvent = { id: eventIdOf(event.purchaseEventId), type: event.type, createdAt: event.createdAt.toISOString(), data: event.purchase };
  return JSON.stringify(body);
}

/** What code.issued and code.redeemed carry: the offer and the calls, never the code. */
export interface CodeEventData {
  offerId: string;
  /** The caller's formula (an access_code purchase) that issued the code. */
  purchaseId: string;
  callsCounted: number;
  issuedAt: string;
  expiresAt: string;
  redeemedAt: string | null;
  reference: string | null;
}

export interface CodeWebhookEvent {
  id: string;
  type: CodeWebhookType;
  createdAt: string;
  data: CodeEventData;
}

/** The exact body of a code event, signed and delivered like the purchase events. */
export function codeWebhookBody(event: { purchaseEventId: number; type: CodeWebhookType; createdAt: Date; code: CodeEventData }): string {
  const body: CodeWebhookEvent = { id: eventIdOf(event.purchaseEventId), type: event.type, createdAt: event.createdAt.toISOString(), data: event.code };
  return JSON.stringify(body);
}
