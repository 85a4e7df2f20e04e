// Request bodies, validated with zod before anything touches the ledger. Phone numbers are
// only checked for shape here; whether they are real numbers is the routes' 422.
//
// Every string a client sends goes through `text()`: a NUL cannot be stored by PostgreSQL (it
// made a 500), and a lone UTF-16 surrogate (JSON allows "\uD800") would be stored as U+FFFD,
// silently changing what the client sent. Both are refused with 400 instead.
import { z } from 'zod';
import { callOutcomes, languages, offerModes } from '../domain/index.js';

/** In unicode mode a lone surrogate is a code point of its own; a valid pair never matches. */
const NUL_OR_LONE_SURROGATE = /[\u0000\p{Surrogate}]/u;

/** A string that can be stored exactly as sent. */
export const text = () => z.string().refine((s) => !NUL_OR_LONE_SURROGATE.test(s), 'must not contain NUL characters or lone UTF-16 surrogates');

const phoneInput = text().trim().min(1).max(32);

export const createMerchantBody = z.strictObject({
  name: text().trim().min(1).max(200),
});

const offerCommon = {
  merchantId: z.uuid(),
  name: text().trim().min(1).max(200),
  callsRequired: z.int().min(1).max(20),
  minCallSeconds: z.int().min(0).max(600),
  numbers: z.array(phoneInput).min(1).max(1000),
  language: z.enum(languages),
  /** Shown by the widget next to the number (price information is mandatory on SVA pages). */
  priceLine: text().trim().min(1).max(200).optional(),
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
  reference: text().max(200).nullish(),
});

/** Path ids that are not UUIDs cannot name anything: they are 404, not 400. */
export const uuidParam = z.uuid();

/** A sound name as Asterisk's sound: scheme takes it, without extension: "sanscode/price-2-99". */
export const numberSettingsBody = z.strictObject({
  priceAnnouncement: text()
    .regex(/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/, 'a sound name such as sanscode/price-2-99 (no extension)')
    .max(100)
    .nullable(),
});

export const callsQuery = z.strictObject({
  outcome: z.enum(callOutcomes).optional(),
  dialed: text().max(32).optional(),
  purchaseId: z.uuid().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export const merchantsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

const webhookUrl = text()
  .trim()
  .max(2000)
  .superRefine((raw, ctx) => {
    const url = URL.canParse(raw) ? new URL(raw) : null;
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
      ctx.addIssue({ code: 'custom', message: 'must be an absolute http or https URL' });
    } else if (url.username || url.password) {
      // fetch refuses such URLs, and the key would sit in clear in the settings.
      ctx.addIssue({ code: 'custom', message: 'must not contain credentials; verify the signature instead' });
    }
  });

export const putWebhookBody = z.strictObject({
  url: webhookUrl,
  /** Replace the signing secret (otherwise kept across URL changes). */
  rotateSecret: z.boolean().optional(),
});

export const deliveriesQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  purchaseId: z.uuid().optional(),
});

/** A DNS label as browsers serialise hosts in Origin (punycode, lower case): no `*`, no `%`. */
const HOST_LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * scheme://host[:port], nothing else: what browsers send in the Origin header, compared as a
 * plain string. A pattern (`https://*.shop.example`) would never match any Origin, so it is
 * refused rather than silently useless.
 */
const origin = text()
  .max(300)
  .refine((s) => {
    const u = URL.canParse(s) ? new URL(s) : null;
    if (!u || (u.protocol !== 'https:' && u.protocol !== 'http:') || u.origin !== s) return false;
    return u.hostname.startsWith('[') || u.hostname.split('.').every((label) => HOST_LABEL.test(label));
  }, 'must be an origin such as https://shop.example (no path, no trailing slash, no wildcard)');

export const allowedOriginsBody = z.strictObject({ origins: z.array(origin).max(50) });

/** POST /v1/admin/calls/{id}/credit: why the operator credits a lost call (kept in the audit trail). */
export const creditCallBody = z.strictObject({
  reason: text().trim().min(1).max(500),
});
