// Request bodies, validated with zod before anything touches the ledger. Phone numbers are
// only checked for shape here; whether they are real numbers is the routes' 422.
import { z } from 'zod';

const phoneInput = z.string().trim().min(1).max(32);

export const createMerchantBody = z.strictObject({
  name: z.string().trim().min(1).max(200),
});

export const createOfferBody = z.strictObject({
  merchantId: z.uuid(),
  name: z.string().trim().min(1).max(200),
  mode: z.literal('caller_id'),
  callsRequired: z.int().min(1).max(20),
  minCallSeconds: z.int().min(0).max(600),
  numbers: z.array(phoneInput).min(1).max(100),
  purchaseTtlSeconds: z.int().min(10).max(604800),
  language: z.enum(['fr', 'en']),
});

export const createPurchaseBody = z.strictObject({
  offerId: z.uuid(),
  callerNumber: phoneInput,
  reference: z.string().max(200).nullish(),
});

/** Path ids that are not UUIDs cannot name anything: they are 404, not 400. */
export const uuidParam = z.uuid();
