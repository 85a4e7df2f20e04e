// Request bodies, validated with zod before anything touches the ledger. Phone numbers are
// only checked for shape here; whether they are real numbers is the routes' 422.
//
// Every string a client sends goes through `text()`: a NUL cannot be stored by PostgreSQL (it
// made a 500), and a lone UTF-16 surrogate (JSON allows "\uD800") would be stored as U+FFFD,
// silently changing what the client sent. Both are refused with 400 instead.
import { z } from 'zod';
import { callOutcomes, languages, MAX_SECONDS_REQUIRED, MIN_SECONDS_REQUIRED, offerModes, purchaseStatuses, purchaseUnits } from '../domain/index.js';
import { DEFAULT_CODE_TTL_SECONDS, DEFAULT_FORMULA_WINDOW_SECONDS, MAX_CODE_TTL_SECONDS } from '../domain/access-code.js';
import type { CodeWebhookType, WebhookEventType } from '../domain/webhook-event.js';

/** In unicode mode a lone surrogate is a code point of its own; a valid pair never matches. */
const NUL_OR_LONE_SURROGATE = /[\u0000\p{Surrogate}]/u;

/** A string that can be stored exactly as sent. */
export const text = () => z.string().refine((s) => !NUL_OR_LONE_SURROGATE.test(s), 'must not contain NUL characters or lone UTF-16 surrogates');

const phoneInput = text().trim().min(1).max(32);

/** The most calls an offer may require (and so a purchase count). */
const MAX_CALLS_REQUIRED = 20;

export const createMerchantBody = z.strictObject({
  name: text().trim().min(1).max(200),
});

const offerCommon = {
  merchantId: z.uuid(),
  name: text().trim().min(1).max(200),
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
 *   access_code:    codeTtlSeconds (how long an issued code can be redeemed; default 86400,
 *                   at most 31 days), formulaWindowSeconds (how long the calls of one formula
 *                   may be spread; default 3600)
 */
export const createOfferBody = z
  .strictObject({
    ...offerCommon,
    mode: z.enum(offerModes),
    /** What a purchase counts: calls (default) or answered seconds. */
    unit: z.enum(purchaseUnits).optional(),
    /** unit call (required). */
    callsRequired: z.int().min(1).max(MAX_CALLS_REQUIRED).optional(),
    minCallSeconds: z.int().min(0).max(600).optional(),
    /** unit second (required): answered seconds a purchase needs, over any number of calls. */
    secondsRequired: z.int().min(MIN_SECONDS_REQUIRED).max(MAX_SECONDS_REQUIRED).optional(),
    purchaseTtlSeconds: z.int().min(10).max(604800).optional(),
    holdSeconds: z.int().min(10).max(86400).optional(),
    maxHoldSeconds: z.int().min(10).max(86400).optional(),
    quarantineSeconds: z.int().min(0).max(86400).optional(),
    codeTtlSeconds: z.int().min(60).max(MAX_CODE_TTL_SECONDS).optional().meta({ description: `access_code: default ${DEFAULT_CODE_TTL_SECONDS}.` }),
    formulaWindowSeconds: z.int().min(60).max(MAX_CODE_TTL_SECONDS).optional().meta({ description: `access_code: default ${DEFAULT_FORMULA_WINDOW_SECONDS}.` }),
  })
  .superRefine((o, ctx) => {
    const need = (field: keyof typeof o) => ctx.addIssue({ code: 'custom', path: [field], message: `required when mode is ${o.mode}` });
    const refuse = (field: keyof typeof o) => ctx.addIssue({ code: 'custom', path: [field], message: `not used when mode is ${o.mode}` });
    const unit = o.unit ?? 'call';
    for (const f of unit === 'call' ? (['callsRequired', 'minCallSeconds'] as const) : (['secondsRequired'] as const)) {
      if (o[f] === undefined) ctx.addIssue({ code: 'custom', path: [f], message: `required when unit is ${unit}` });
    }
    for (const f of unit === 'call' ? (['secondsRequired'] as const) : (['callsRequired', 'minCallSeconds'] as const)) {
      if (o[f] !== undefined) ctx.addIssue({ code: 'custom', path: [f], message: `not used when unit is ${unit}` });
    }
    if (o.mode === 'access_code' && unit === 'second') ctx.addIssue({ code: 'custom', path: ['unit'], message: 'access_code offers count calls: unit must be call' });
    if (o.mode !== 'access_code') for (const f of ['codeTtlSeconds', 'formulaWindowSeconds'] as const) if (o[f] !== undefined) refuse(f);
    if (o.mode === 'access_code') {
      for (const f of ['purchaseTtlSeconds', 'holdSeconds', 'maxHoldSeconds', 'quarantineSeconds'] as const) if (o[f] !== undefined) refuse(f);
    } else if (o.mode === 'caller_id') {
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
  /**
   * The buyer's IP address as your site saw it: bounds the purchases one address may create
   * across phone numbers (429 past it). Stored only as a keyed hash, and erased with the
   * caller's other personal data after the retention period.
   */
  clientIp: z.union([z.ipv4(), z.ipv6()]).optional(),
});

/** Path ids that are not UUIDs cannot name anything: they are 404, not 400. */
export const uuidParam = z.uuid();

/** A sound name as Asterisk's sound: scheme takes it, without extension: "sanscode/price-2-99". */
const soundName = (example: string) =>
  text()
    .regex(/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/, `a sound name such as ${example} (no extension)`)
    .max(100);

/** PUT /v1/admin/numbers/{number}: a setting left out keeps its value; null removes it. */
export const numberSettingsBody = z
  .strictObject({
    priceAnnouncement: soundName('sanscode/price-2-99').nullable().optional().meta({
      description: 'Played free, as early media, before a call on this number is answered (null: none, the carrier plays it).',
    }),
    holdSound: soundName('sanscode/hold-music').nullable().optional().meta({
      description: 'Per-second purchases: what the caller hears between the time-remaining announcements, looped and cut when the next one is due (null: silence).',
    }),
  })
  .refine((b) => b.priceAnnouncement !== undefined || b.holdSound !== undefined, 'give priceAnnouncement, holdSound or both');

/** PUT /v1/admin/merchants/{id}/name-sound, /v1/admin/offers/{id}/name-sound: a recorded name (null: none). */
export const nameSoundBody = z.strictObject({
  sound: text()
    .regex(/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/, 'a sound name such as sanscode/names/le-journal (no extension)')
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

// --- Responses ------------------------------------------------------------------------------
// What every JSON answer holds, as sent on the wire. The routes' answers are typed through these
// (`satisfies`), api/openapi.ts documents them, and the integration tests check every real
// answer against them: an answer cannot drift from its documentation unnoticed. Strict objects:
// a field the documentation does not list is a drift too.

// Examples make the reference page's sample answers readable; they constrain nothing.
/** A time as `Date.prototype.toISOString` writes it (UTC, milliseconds). */
const time = () => z.iso.datetime().meta({ examples: ['2026-11-26T10:15:00.000Z'] });
const uuid = () => z.uuid().meta({ examples: ['4f1c9a52-7d3e-4b8a-9c61-2e5d8f0a7b34'] });
const calls = () => z.int().min(0).max(MAX_CALLS_REQUIRED).meta({ examples: [2] });
const seconds = () => z.int().min(0).meta({ examples: [600] });
const accessCode = () => z.string().regex(/^[0-9]{8}$/).meta({ description: '8-digit access code', examples: ['40718263'] });
const e164 = () => z.string().regex(/^\+[1-9]\d{1,14}$/).meta({ description: 'E.164 number', examples: ['+33899123456'] });

export const problemResponse = z
  .strictObject({
    type: z.string().startsWith('urn:sanscode:problem:').meta({ examples: ['urn:sanscode:problem:invalid-request'] }),
    title: z.string(),
    status: z.int().min(400).max(599),
    detail: z.string(),
    errors: z.array(z.strictObject({ field: z.string(), message: z.string() })).optional().meta({ description: 'One entry per refused field (400, 422).' }),
    pendingPurchaseId: uuid().optional().meta({ description: '409 caller-has-pending-purchase: your own pending purchase for this offer, to resume or cancel.' }),
    numbers: z.array(e164()).optional().meta({ description: '409 number-in-use: the numbers already taken.' }),
    retryAfterSeconds: z
      .int()
      .min(0)
      .optional()
      .meta({ description: '503 pool-exhausted: seconds until a number comes free; 429 too-many-failed-redemptions: seconds until a failure leaves the window; 429 too-many-purchases: seconds until one more purchase is allowed (all also in Retry-After).' }),
    redeemedAt: time().optional().meta({ description: '409 code-already-used: when the code was redeemed.' }),
    expiredAt: time().optional().meta({ description: '410 code-expired: when the code expired.' }),
    expiresAt: time().optional().meta({ description: '409 hold-at-maximum: the end of the hold, which cannot move further.' }),
    reason: z
      .enum(['already_credited', 'not_lost', 'not_answered', 'purchase_completed', 'purchase_cancelled', 'purchase_pending', 'purchase_expired', 'per_second_purchase'])
      .optional()
      .meta({ description: '409 call-not-creditable: why the call cannot be credited.' }),
    purchaseId: uuid().optional().meta({ description: "409 call-not-creditable: the call's purchase, when it is the purchase that cannot take it." }),
  })
  .meta({ description: 'RFC 9457 problem details (application/problem+json).' });

export const healthResponse = z.strictObject({ ok: z.literal(true) });

export const readinessResponse = z
  .strictObject({
    ready: z.boolean(),
    checks: z.strictObject({
      database: z.enum(['up', 'down']),
      ari: z.enum(['connected', 'disconnected']).optional().meta({ description: 'Only when this process also runs the IVR.' }),
      worker: z.enum(['active', 'standby']).optional().meta({ description: 'Only when this process also runs the IVR.' }),
    }),
  })
  .meta({ description: 'What readiness checked: names and states only, never a host or an error.' });

export const createdMerchantResponse = z.strictObject({
  id: uuid(),
  name: z.string(),
  apiKey: z.string().startsWith('sk_').meta({ description: 'The merchant API key, shown only in this answer (only its SHA-256 is stored).', examples: ['sk_…'] }),
});

export const merchantResponse = z.strictObject({
  id: uuid(),
  name: z.string(),
  allowedOrigins: z.array(z.string()),
  webhookUrl: z.string().nullable(),
  createdAt: time(),
});

export const merchantListResponse = z.strictObject({ merchants: z.array(merchantResponse).meta({ description: 'Newest first.' }) });

const offerResponseCommon = {
  id: uuid(),
  merchantId: uuid(),
  name: z.string(),
  callsRequired: calls(),
  minCallSeconds: seconds(),
  numbers: z.array(e164()),
  language: z.enum(languages),
  priceLine: z.string().nullable(),
  createdAt: time(),
};

/** Per-second offers add these (absent on per-call offers, which read as before). */
const perSecondOffer = {
  unit: z.literal('second').optional().meta({ description: 'Present on per-second offers: purchases count answered seconds (callsRequired is then 1, minCallSeconds 0).' }),
  secondsRequired: z.int().min(MIN_SECONDS_REQUIRED).max(MAX_SECONDS_REQUIRED).optional().meta({ examples: [300] }),
};

export const offerResponse = z.discriminatedUnion('mode', [
  z.strictObject({ ...offerResponseCommon, ...perSecondOffer, mode: z.literal('caller_id'), purchaseTtlSeconds: seconds() }),
  z.strictObject({
    ...offerResponseCommon,
    ...perSecondOffer,
    mode: z.literal('dynamic_number'),
    holdSeconds: seconds(),
    // Set by every offer the API creates; null (holdSeconds, 0) only in offers stored otherwise.
    maxHoldSeconds: seconds().nullable(),
    quarantineSeconds: seconds().nullable(),
  }),
  z.strictObject({ ...offerResponseCommon, mode: z.literal('access_code'), codeTtlSeconds: seconds(), formulaWindowSeconds: seconds() }),
]);

export const poolResponse = z.strictObject({
  offerId: uuid(),
  free: z.int().min(0),
  lent: z.int().min(0),
  resting: z.int().min(0),
  numbers: z.array(
    z.strictObject({
      number: e164(),
      state: z.enum(['free', 'lent', 'resting']),
      until: time().nullable().meta({ description: 'lent: end of the hold; resting: end of the rest; free: null.' }),
      purchaseId: uuid().nullable().meta({ description: 'The purchase a lent number is lent to.' }),
    }),
  ),
});

export const numberSettingsResponse = z.strictObject({ number: e164(), priceAnnouncement: z.string().nullable(), holdSound: z.string().nullable() });

export const nameSoundResponse = z.strictObject({
  id: uuid(),
  nameSound: z.string().nullable().meta({ description: 'The recorded name callers hear before the answer; null: the generic sentence.' }),
});

/** One call of the call record. */
const callRecord = z.strictObject({
  channelId: z.string(),
  asteriskId: z.string().nullable(),
  dialedNumber: z.string().meta({ description: 'E.164, or as received when it is not a usable number.' }),
  callerNumber: e164().nullable().meta({ description: 'null: caller ID withheld or unusable, or anonymised after the retention period.' }),
  outcome: z.enum(callOutcomes),
  purchaseId: uuid().nullable(),
  startedAt: time(),
  answeredAt: time().nullable(),
  countedAt: time().nullable(),
  endedAt: time().nullable(),
  answeredSeconds: seconds().nullable(),
  hangupCause: z.int().min(0).nullable(),
  hangupCauseText: z.string().nullable(),
  issuedCode: accessCode().nullable().meta({ description: 'access_code: the code this call issued (the last call of its formula), else null.' }),
});

export const callListResponse = z.strictObject({
  calls: z.array(callRecord).meta({ description: 'Newest first.' }),
});

/**
 * The seconds of a per-second purchase (offer unit second), present only on those: per-call
 * purchases read exactly as before. Their calls fields then say 1 call, counted at completion.
 */
const perSecondPurchase = () => {
  const secondsField = () => z.int().min(0).max(MAX_SECONDS_REQUIRED).optional();
  return {
    unit: z.literal('second').optional().meta({ description: 'Present on per-second purchases only.' }),
    secondsRequired: secondsField().meta({ description: 'Answered seconds the purchase needs.', examples: [300] }),
    secondsCounted: secondsField().meta({ description: 'Answered seconds credited so far, over all calls (credited every 5 s during a call).', examples: [125] }),
    secondsRemaining: secondsField().meta({ examples: [175] }),
  };
};

export const purchaseResponse = z.strictObject({
  id: uuid(),
  offerId: uuid(),
  mode: z.enum(offerModes),
  status: z.enum(purchaseStatuses).meta({ description: 'A pending purchase past expiresAt reads as expired.' }),
  reference: z.string().nullable(),
  callerNumber: e164().nullable().meta({ description: 'caller_id: the buyer; dynamic_number: null.' }),
  numberToCall: e164(),
  callsRequired: calls(),
  callsCounted: calls(),
  callsRemaining: calls(),
  createdAt: time(),
  expiresAt: time().meta({ description: 'caller_id: end of the purchase; dynamic_number: end of the hold.' }),
  completedAt: time().nullable(),
  ...perSecondPurchase(),
  disputedAt: time()
    .nullable()
    .meta({ description: 'When the owner of callerNumber hung up during the identity prompt ("I did not make this purchase"); the purchase stays pending. See the README.' }),
});


/** DELETE /v1/admin/callers/{number}: what was anonymised, and what the retention period still keeps. */
export const anonymisationResponse = z.strictObject({
  number: e164(),
  retentionDays: z.int().min(1),
  anonymisedPurchases: z.int().min(0),
  anonymisedCalls: z.int().min(0),
  keptPurchases: z.int().min(0).meta({ description: 'Still inside the retention period (or still pending): kept untouched.' }),
  keptCalls: z.int().min(0),
  erasableFrom: time().nullable().meta({ description: 'When every record kept now may be anonymised; null: nothing kept.' }),
});

/** POST /v1/admin/calls/{id}/credit: the credit, as the audit trail keeps it, and the purchase after it. */
export const callCreditResponse = z.strictObject({
  credit: z.strictObject({
    callId: uuid(),
    channelId: z.string(),
    purchaseId: uuid(),
    creditedBy: z.string().meta({ description: '"admin-api" through this API, the operator\'s OS user through the CLI.' }),
    reason: z.string(),
    createdAt: time(),
  }),
  completed: z.boolean().meta({ description: "This credit was the purchase's last missing call." }),
  purchase: purchaseResponse,
});
export type CallCreditResponse = z.infer<typeof callCreditResponse>;

const clientToken = () => z.string().startsWith('ct_').meta({ description: "A token for this purchase only, for the buyer's browser (widget, event stream).", examples: ['ct_eyJwIjoi….Qm9x…'] });

export const createdPurchaseResponse = purchaseResponse.extend({ clientToken: clientToken() });

export const clientTokenResponse = z.strictObject({ clientToken: clientToken() });

/** The purchase as a buyer's page draws it (GET /v1/client/purchase). */
export const clientPurchaseResponse = z.strictObject({
  purchaseId: uuid(),
  status: z.enum(purchaseStatuses),
  callsRequired: calls(),
  callsCounted: calls(),
  callsRemaining: calls(),
  numberToCall: e164(),
  expiresAt: time(),
  completedAt: time().nullable(),
  callInProgress: z.boolean(),
  disputedAt: time()
    .nullable()
    .meta({ description: 'When the owner of the number hung up during the identity prompt ("not my purchase"); the purchase stays pending.' }),
  ...perSecondPurchase(),
  lastEventId: z.int().min(0).meta({ description: 'Resume the event stream after this id (0: none yet).' }),
  language: z.enum(languages),
  priceLine: z.string().nullable(),
});

/** The `data:` of each Server-Sent Event of a purchase's stream. */
export const purchaseLiveEvent = z.strictObject({
  purchaseId: uuid(),
  status: z.enum(purchaseStatuses),
  callsRequired: calls(),
  callsCounted: calls(),
  callsRemaining: calls(),
  callInProgress: z.boolean(),
  numberToCall: e164(),
  expiresAt: time(),
  completedAt: time().nullable(),
  disputedAt: time()
    .nullable()
    .meta({ description: 'When the owner of the number hung up during the identity prompt ("not my purchase"); the purchase stays pending.' }),
  ...perSecondPurchase(),
});

export const allowedOriginsResponse = z.strictObject({ origins: z.array(z.string()) });

export const webhookSettingsResponse = z.strictObject({
  url: z.string(),
  secret: z.string().meta({ description: 'The signing secret of Sanscode-Signature.' }),
});

export const deliveryListResponse = z.strictObject({
  deliveries: z
    .array(
      z.strictObject({
        id: z.int().min(0),
        eventId: z.string().meta({ description: 'The `id` of the webhook event sent.' }),
        type: z.string().meta({ description: 'The webhook event type, e.g. purchase.completed.' }),
        purchaseId: uuid(),
        status: z.enum(['pending', 'delivered', 'failed']),
        attempts: z.int().min(0),
        nextAttemptAt: time().nullable(),
        lastAttemptAt: time().nullable(),
        lastStatusCode: z.int().min(0).nullable(),
        lastError: z.string().nullable(),
        deliveredAt: time().nullable(),
        createdAt: time(),
      }),
    )
    .meta({ description: 'Newest first.' }),
});

/** Each webhook event type with what it means; the compiler checks that it names every WebhookEventType. */
const webhookEventTypes = {
  'purchase.progress': 'a call was counted, or answered seconds were credited (per-second purchases: at most every 10 s, and at each hang-up)',
  'purchase.completed': 'the last call was counted',
  'purchase.expired': 'the purchase expired',
  'purchase.cancelled': 'the merchant cancelled the purchase',
  'purchase.disputed': 'the owner of the phone number hung up during the identity prompt: they say they did not make this purchase',
} satisfies Record<WebhookEventType, string>;

/** The body of a webhook POST (domain/webhook-event.ts). */
export const webhookEvent = z.strictObject({
  id: z.string().meta({ description: 'Event id, for de-duplication.' }),
  type: z.enum(Object.keys(webhookEventTypes) as [WebhookEventType, ...WebhookEventType[]]).meta({
    description: Object.entries(webhookEventTypes).map(([type, meaning]) => `${type}: ${meaning}`).join('; '),
  }),
  createdAt: time(),
  data: purchaseResponse,
});

/** POST /v1/codes/redeem. */
export const redeemCodeBody = z.strictObject({
  code: text().trim().min(1).max(32).meta({ description: 'The code the caller heard (8 digits).' }),
  reference: text().max(200).nullish(),
});

export const codesQuery = z.strictObject({
  caller: text().max(32).optional(),
  offerId: z.uuid().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

const codeFields = {
  code: accessCode(),
  offerId: uuid(),
  callsCounted: calls().meta({ description: 'Calls of the formula the code was issued for.' }),
  issuedAt: time(),
  expiresAt: time(),
  redeemedAt: time().nullable(),
  reference: z.string().nullable().meta({ description: 'What the merchant gave when redeeming.' }),
};

/** A code as its merchant sees it (GET /v1/codes/{code}). */
export const codeResponse = z.strictObject({ ...codeFields, status: z.enum(['valid', 'redeemed', 'expired']) });

/** POST /v1/codes/redeem: the code, now consumed. */
export const redeemedCodeResponse = z.strictObject({ ...codeFields, status: z.literal('redeemed'), redeemedAt: time() });

/** GET /v1/admin/codes: codes issued, for support. */
export const codeListResponse = z.strictObject({
  codes: z
    .array(
      codeResponse.extend({
        merchantId: uuid(),
        purchaseId: uuid().meta({ description: "The caller's formula (an access_code purchase)." }),
        callId: uuid().nullable(),
        callerNumber: e164().nullable().meta({ description: 'null: withheld caller (single-call formula).' }),
        dialedNumber: e164(),
      }),
    )
    .meta({ description: 'Newest first.' }),
});

/** GET /v1/admin/callers/{number}: everything recorded about one phone number. */
export const callerRecordResponse = z.strictObject({
  number: e164(),
  purchases: z
    .array(purchaseResponse.extend({ merchantId: uuid(), merchantName: z.string() }))
    .meta({ description: 'Every purchase made with this number, at every merchant, newest first.' }),
  calls: z.array(callRecord).meta({ description: 'Every call from this number, newest first (outcome `disputed`: hung up during the identity prompt).' }),
  codes: codeListResponse.shape.codes.meta({ description: 'Access codes issued to this number, newest first.' }),
});

const codeWebhookEventTypes = {
  'code.issued': 'the last call of a formula issued a code (the code itself is never sent)',
  'code.redeemed': 'a code was redeemed',
} satisfies Record<CodeWebhookType, string>;

/** The body of a code webhook POST: the offer and the calls, never the code. */
export const codeWebhookEvent = z.strictObject({
  id: z.string().meta({ description: 'Event id, for de-duplication.' }),
  type: z.enum(Object.keys(codeWebhookEventTypes) as [CodeWebhookType, ...CodeWebhookType[]]).meta({
    description: Object.entries(codeWebhookEventTypes).map(([type, meaning]) => `${type}: ${meaning}`).join('; '),
  }),
  createdAt: time(),
  data: z.strictObject({
    offerId: uuid(),
    purchaseId: uuid(),
    callsCounted: calls(),
    issuedAt: time(),
    expiresAt: time(),
    redeemedAt: time().nullable(),
    reference: z.string().nullable(),
  }),
});

export type CodeResponse = z.output<typeof codeResponse>;
export type RedeemedCodeResponse = z.output<typeof redeemedCodeResponse>;
export type CodeListResponse = z.output<typeof codeListResponse>;
export type CreatedMerchantResponse = z.output<typeof createdMerchantResponse>;
export type MerchantResponse = z.output<typeof merchantResponse>;
export type MerchantListResponse = z.output<typeof merchantListResponse>;
export type OfferResponse = z.output<typeof offerResponse>;
export type PoolResponse = z.output<typeof poolResponse>;
export type NumberSettingsResponse = z.output<typeof numberSettingsResponse>;
export type CallListResponse = z.output<typeof callListResponse>;
export type CallRecordResponse = z.output<typeof callRecord>;
export type NameSoundResponse = z.output<typeof nameSoundResponse>;
export type CallerRecordResponse = z.output<typeof callerRecordResponse>;
export type AnonymisationResponse = z.output<typeof anonymisationResponse>;
export type PurchaseResponse = z.output<typeof purchaseResponse>;
export type CreatedPurchaseResponse = z.output<typeof createdPurchaseResponse>;
export type ClientPurchaseResponse = z.output<typeof clientPurchaseResponse>;
export type AllowedOriginsResponse = z.output<typeof allowedOriginsResponse>;
export type ClientTokenResponse = z.output<typeof clientTokenResponse>;
export type WebhookSettingsResponse = z.output<typeof webhookSettingsResponse>;
export type DeliveryListResponse = z.output<typeof deliveryListResponse>;
