// Request bodies, validated with zod before anything touches the ledger. Phone numbers are
// only checked for shape here; whether they are real numbers is the routes' 422.
import { z } from 'zod';
import { callOutcomes, languages, offerModes } from '../domain/index.js';

const phoneInput = z.string().trim().min(1).max(32);

export const createMerchantBody = z.strictObject({
  name: z.string().trim().min(1).max(200),
});

const offerCommon = {
  merchantId: z.uuid(),
  name: z.string().trim().min(1).max(200),
  callsRequired: z.int().min(1).max(20),
  minCallSeconds: z.int().min(0).max(600),
  numbers: z.array(phoneInput).min(1).max(1000),
  language: z.enum(languages),
  /** Shown by the widget next to the number (price information is mandatory on SVA pages). */
  priceLine: z.string().trim().min(1).max(200).optional(),
};

/**
 * One flat object for both modes so that every invalid field is reported at once; the fields
 * that only one mode takes are checked after.
 *   caller_id:      purchaseTtlSeconds (life of a pending purchase)
 *   dynamic_number: holdSeconds (how long a number is lent to one visitor), maxHoldSeconds
 *                   (longest total hold reachable with /extend; default holdSeconds),
 *                   quarantineSeconds (rest of a number after a lending; default 300)
 */
export const createOfferBody = z
  .strictObject({
    ...offerCommon,
    mode: z.enum(offerModes),
    purchaseTtlSeconds: z.int().min(10).max(604800).optional(),
    holdSeconds: z.int().min(10).max(86400).optional(),
    maxHoldSeconds: z.int().min(10).max(86400).optional(),
    quarantineSeconds: z.int().min(0).max(86400).optional(),
  })
  .superRefine((o, ctx) => {
    const need = (field: keyof typeof o) => ctx.addIssue({ code: 'custom', path: [field], message: `required when mode is ${o.mode}` });
    const refuse = (field: keyof typeof o) => ctx.addIssue({ code: 'custom', path: [field], message: `not used when mode is ${o.mode}` });
    if (o.mode === 'caller_id') {
      if (o.purchaseTtlSeconds === undefined) need('purchaseTtlSeconds');
      for (const f of ['holdSeconds', 'maxHoldSeconds', 'quarantineSeconds'] as const) if (o[f] !== undefined) refuse(f);
    } else {
      if (o.holdSeconds === undefined) need('holdSeconds');
      if (o.purchaseTtlSeconds !== undefined) refuse('purchaseTtlSeconds');
      if (o.maxHoldSeconds !== undefined && o.holdSeconds !== undefined && o.maxHoldSeconds < o.holdSeconds) {
        ctx.addIssue({ code: 'custom', path: ['maxHoldSeconds'], message: 'must be at least holdSeconds' });
      }
    }
  });

export const createPurchaseBody = z.strictObject({
  offerId: z.uuid(),
  /** Required by caller_id offers; not used by dynamic_number offers. */
  callerNumber: phoneInput.optional(),
  reference: z.string().max(200).nullish(),
});

/** Path ids that are not UUIDs cannot name anything: they are 404, not 400. */
export const uuidParam = z.uuid();

/** A sound name as Asterisk's sound: scheme takes it, without extension: "sanscode/price-2-99". */
export const numberSettingsBody = z.strictObject({
  priceAnnouncement: z
    .string()
    .regex(/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/, 'a sound name such as sanscode/price-2-99 (no extension)')
    .max(100)
    .nullable(),
});

export const callsQuery = z.strictObject({
  outcome: z.enum(callOutcomes).optional(),
  dialed: z.string().max(32).optional(),
  purchaseId: z.uuid().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/** POST /v1/admin/calls/{id}/credit: why the operator credits a lost call (kept in the audit trail). */
export const creditCallBody = z.strictObject({
  reason: z.string().trim().min(1).max(500),
});
