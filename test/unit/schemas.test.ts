import { describe, expect, it } from 'vitest';
import { createOfferBody, createPurchaseBody, numberSettingsBody } from '../../api/schemas.js';

const base = { merchantId: '00000000-0000-4000-8000-000000000000', name: 'x', callsRequired: 2, minCallSeconds: 10, numbers: ['0899123456'], language: 'fr' };
const fields = (r: { success: boolean; error?: { issues: { path: PropertyKey[] }[] } }) => r.error?.issues.map((i) => i.path.join('.')).sort() ?? [];

describe('request validation', () => {
  it('takes a caller-ID offer with a purchase lifetime', () => {
    expect(createOfferBody.safeParse({ ...base, mode: 'caller_id', purchaseTtlSeconds: 600 }).success).toBe(true);
  });
  it('asks each mode for its own fields and refuses the other mode’s', () => {
    expect(fields(createOfferBody.safeParse({ ...base, mode: 'caller_id', holdSeconds: 60 }))).toEqual(['holdSeconds', 'purchaseTtlSeconds']);
    expect(fields(createOfferBody.safeParse({ ...base, mode: 'dynamic_number', holdSeconds: 60, maxHoldSeconds: 30 }))).toEqual(['maxHoldSeconds']);
    expect(createOfferBody.safeParse({ ...base, mode: 'dynamic_number', holdSeconds: 60 }).success).toBe(true);
  });
  it('reports every bad field of an offer at once', () => {
    expect(fields(createOfferBody.safeParse({ merchantId: 'x', name: '', mode: 'ticket', callsRequired: 0, minCallSeconds: 1.5, numbers: [], language: 'de' }))).toEqual(
      ['callsRequired', 'language', 'merchantId', 'minCallSeconds', 'mode', 'name', 'numbers'],
    );
  });
  it('refuses unknown purchase fields and non-UUID offers', () => {
    expect(fields(createPurchaseBody.safeParse({ offerId: 'abc', callerNumber: '0612345678', amount: 3 }))).toEqual(['', 'offerId']);
    expect(createPurchaseBody.safeParse({ offerId: base.merchantId }).success).toBe(true); // dynamic-number purchases have no caller
  });
  it('accepts only plain sound names as price announcements', () => {
    expect(numberSettingsBody.safeParse({ priceAnnouncement: 'sanscode/price-2-99' }).success).toBe(true);
    expect(numberSettingsBody.safeParse({ priceAnnouncement: null }).success).toBe(true);
    for (const bad of ['../x', '/abs', 'a b', 'x.wav', 'sound:x']) expect(numberSettingsBody.safeParse({ priceAnnouncement: bad }).success).toBe(false);
  });
});
