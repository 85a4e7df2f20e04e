// The webhook event format merchants code against (docs/webhooks.md): ids, bytes of the body,
// and which purchase events become webhooks.
import { describe, expect, it } from 'vitest';
import type { PurchaseView } from '../../../domain/index.js';
import { eventIdOf, webhookEventBody, webhookTypeOf } from '../../../domain/webhook-event.js';
import { purchaseEventTypes } from '../../../db/schema.js';

const purchase: PurchaseView = {
  id: '0b5d0c9e-7d1e-4f55-9a43-2b1f7c6a0e11',
  offerId: '5a1f6b52-2a4c-4c1e-8f7e-3c2d1b0a9f88',
  mode: 'caller_id',
  status: 'completed',
  reference: 'article-42',
  callerNumber: '+33612345678',
  numberToCall: '+33899123456',
  callsRequired: 2,
  callsCounted: 2,
  callsRemaining: 0,
  createdAt: '2026-01-01T00:00:00.000Z',
  expiresAt: '2026-01-01T00:15:00.000Z',
  completedAt: '2026-01-01T00:05:00.000Z',
  disputedAt: null,
};

describe('webhook events', () => {
  it('names an event evt_<purchase event id>', () => {
    expect(eventIdOf(42)).toBe('evt_42');
    expect(eventIdOf(9_007_199_254_740_991)).toBe('evt_9007199254740991');
  });

  it('builds the documented body, byte for byte: id, type, createdAt, data', () => {
    const body = webhookEventBody({ purchaseEventId: 42, type: 'purchase.completed', createdAt: new Date('2026-01-01T00:05:00.123Z'), purchase });
    expect(body).toBe(`{"id":"evt_42","type":"purchase.completed","createdAt":"2026-01-01T00:05:00.123Z","data":${JSON.stringify(purchase)}}`);
  });

  it('tells merchants about counted calls, credited seconds, the three endings and disputes, and nothing else', () => {
    const told = purchaseEventTypes.map((t) => [t, webhookTypeOf(t)]).filter(([, w]) => w !== null);
    expect(Object.fromEntries(told)).toEqual({
      call_counted: 'purchase.progress',
      seconds_credited: 'purchase.progress',
      completed: 'purchase.completed',
      expired: 'purchase.expired',
      cancelled: 'purchase.cancelled',
      disputed: 'purchase.disputed',
    });
    expect(webhookTypeOf('toString')).toBeNull();
  });
});
