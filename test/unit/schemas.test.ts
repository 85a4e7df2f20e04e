import { describe, expect, it } from 'vitest';
import { allowedOriginsBody, callsQuery, createMerchantBody, createOfferBody, createPurchaseBody, numberSettingsBody, putWebhookBody, text } from '../../api/schemas.js';

const base = { merchantId: '00000000-0000-4000-8000-000000000000', name: 'x', callsRequired: 2, minCallSeconds: 10, numbers: ['0899123456'], language: 'fr' };
/** The fields with at least one issue, each once. */
const fields = (r: { success: boolean; error?: { issues: { path: PropertyKey[] }[] } }) => [...new Set(r.error?.issues.map((i) => i.path.join('.')))].sort();

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
  it('refuses NUL characters and lone surrogates in every string field, and keeps valid pairs', () => {
    for (const bad of ['a\u0000b', '\u0000', 'a\uD800', '\uDFFFa', '\uDE00\uD83D']) {
      expect(text().safeParse(bad).success, JSON.stringify(bad)).toBe(false);
      expect(fields(createMerchantBody.safeParse({ name: bad }))).toEqual(['name']);
      expect(fields(createOfferBody.safeParse({ ...base, mode: 'caller_id', purchaseTtlSeconds: 600, name: `x${bad}`, priceLine: bad, numbers: [`0899${bad}`] }))).toEqual(['name', 'numbers.0', 'priceLine']);
      expect(fields(createPurchaseBody.safeParse({ offerId: base.merchantId, callerNumber: `06${bad}`, reference: bad }))).toEqual(['callerNumber', 'reference']);
      expect(fields(putWebhookBody.safeParse({ url: `https://example.com/${bad}` }))).toEqual(['url']);
      expect(fields(allowedOriginsBody.safeParse({ origins: [`https://a${bad}.example`] }))).toEqual(['origins.0']);
      expect(fields(callsQuery.safeParse({ dialed: bad }))).toEqual(['dialed']);
      expect(fields(numberSettingsBody.safeParse({ priceAnnouncement: bad }))).toEqual(['priceAnnouncement']);
    }
    expect(createMerchantBody.parse({ name: 'Le Journal 📰 é' })).toEqual({ name: 'Le Journal 📰 é' });
  });
  it('takes origins as browsers send them, and no pattern', () => {
    for (const good of ['https://shop.example', 'http://localhost:3000', 'https://[::1]', 'https://xn--caf-dma.example', 'https://a_b.example']) {
      expect(allowedOriginsBody.safeParse({ origins: [good] }).success, good).toBe(true);
    }
    for (const bad of ['https://*.shop.example', 'https://shop.example/', 'https://café.example', 'https://shop..example', 'https://shop-.example', 'ftp://shop.example', 'null']) {
      expect(allowedOriginsBody.safeParse({ origins: [bad] }).success, bad).toBe(false);
    }
  });
});
