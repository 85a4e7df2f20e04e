// Webhook events as merchants receive them (docs/webhooks.md): which purchase events they hear
// about, the public event id and the body. Defined once here, with no I/O: the ledger builds
// the body in the transaction of the change, the outbox and the sender name events with it.
// The signature of a body is webhooks/signature.ts.
import type { PurchaseView } from './purchase.js';

/** Webhook event type for each purchase event that merchants are told about. */
const typeByPurchaseEvent = {
  call_counted: 'purchase.progress',
  completed: 'purchase.completed',
  expired: 'purchase.expired',
  cancelled: 'purchase.cancelled',
  disputed: 'purchase.disputed',
} as const;

type NotifiedPurchaseEvent = keyof typeof typeByPurchaseEvent;
export type WebhookEventType = (typeof typeByPurchaseEvent)[NotifiedPurchaseEvent];

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
