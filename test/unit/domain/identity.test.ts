// The creation limit's arithmetic: when one more purchase fits, and the Retry-After otherwise.
import { describe, expect, it } from 'vitest';
import { creationAllowed, decideCall, type CallContext, type CallFacts } from '../../../domain/index.js';

describe('creationAllowed', () => {
  it('allows up to the limit within the window, ignoring older creations', () => {
    expect(creationAllowed([], 5, 3600)).toEqual({ allowed: true });
    expect(creationAllowed([10, 20, 30, 40], 5, 3600)).toEqual({ allowed: true });
    expect(creationAllowed([10, 20, 30, 40, 3600, 4000], 5, 3600)).toEqual({ allowed: true });
  });
  it('refuses the next one until the oldest in the window leaves it', () => {
    expect(creationAllowed([10, 20, 30, 40, 600], 5, 3600)).toEqual({ allowed: false, retryAfterSeconds: 3000 });
    // Over the limit (the limit was lowered): wait until enough have left.
    expect(creationAllowed([10, 20, 30, 40, 500, 600], 5, 3600)).toEqual({ allowed: false, retryAfterSeconds: 3100 });
    expect(creationAllowed([3599.9], 1, 3600)).toEqual({ allowed: false, retryAfterSeconds: 1 });
  });
});

describe('the identity a call announces', () => {
  const facts: CallFacts = { channelId: 'c', asteriskId: null, dialedRaw: '0899123456', dialed: '+33899123456', callerRaw: '0612345678', caller: '+33612345678' };
  const purchase = { id: 'p1', status: 'pending' as const, callsRequired: 1, callsCounted: 0, callsInProgress: 0, minCallSeconds: 0, language: 'fr' as const };
  it("is the admitted purchase's own, and only when there is one", () => {
    const identity = { merchantNameSound: 'names/a', offerNameSound: null };
    const context: CallContext = { number: { mode: 'caller_id', language: 'fr', priceAnnouncement: null }, purchase: { ...purchase, identity } };
    expect(decideCall(facts, context, 'fr')).toMatchObject({ action: 'answer', purchaseId: 'p1', identity });
    expect(decideCall(facts, { ...context, purchase }, 'fr')).not.toHaveProperty('identity');
  });
});
