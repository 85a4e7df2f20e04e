// The one drizzle schema. Migrations in db/migrations are generated from it with drizzle-kit
// (`npm run db:generate`) and committed; never edit the database by hand.
import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { callOutcomes, languages, offerModes, purchaseStatuses, purchaseUnits } from '../domain/index.js';

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();

/** A website selling items. Only a SHA-256 of its API key is stored. */
export const merchants = pgTable('merchants', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull(),
  apiKeyHash: text('api_key_hash').notNull().unique(),
  /** Browser origins allowed to use client tokens (CORS), e.g. https://shop.example. */
  allowedOrigins: text('allowed_origins').array().notNull().default(sql`'{}'::text[]`),
  webhookUrl: text('webhook_url'),
  /** HMAC key of webhook signatures; the merchant holds a copy to verify them. */
  webhookSecret: text('webhook_secret'),
  /** Recorded name played to callers before the answer ("a purchase made on <name>"); null: generic sentence. */
  nameSound: text('name_sound'),
  createdAt: createdAt(),
});

/** What a merchant sells and how it is paid: which numbers, how many calls, how long each. */
export const offers = pgTable(
  'offers',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    merchantId: uuid('merchant_id').notNull().references(() => merchants.id),
    name: text('name').notNull(),
    mode: text('mode', { enum: offerModes }).notNull(),
    callsRequired: integer('calls_required').notNull(),
    minCallSeconds: integer('min_call_seconds').notNull(),
    /** What a purchase counts: calls (callsRequired, minCallSeconds) or answered seconds. */
    unit: text('unit', { enum: purchaseUnits }).notNull().default('call'),
    /** unit 'second': answered seconds a purchase needs (null for unit 'call'). */
    secondsRequired: integer('seconds_required'),
    /** caller_id: how long a purchase stays pending (null in dynamic_number mode). */
    purchaseTtlSeconds: integer('purchase_ttl_seconds'),
    /** dynamic_number: how long a number is lent to one visitor, and /extend's step. */
    holdSeconds: integer('hold_seconds'),
    /** dynamic_number: longest total hold a visitor may reach by extending. */
    maxHoldSeconds: integer('max_hold_seconds'),
    /** dynamic_number: rest after a lending ends, so a late call cannot credit the next visitor. */
    quarantineSeconds: integer('quarantine_seconds'),
    /** access_code: how long an issued code can be redeemed. */
    codeTtlSeconds: integer('code_ttl_seconds'),
    /** access_code: how long the calls of one formula may be spread (from its first call). */
    formulaWindowSeconds: integer('formula_window_seconds'),
    language: text('language', { enum: languages }).notNull(),
    /** Price line the widget shows, e.g. "2 appels à 2,99 € TTC + prix d'un appel". */
    priceLine: text('price_line'),
    /** Recorded name of what is sold, played to callers before the answer ("for <name>"); null: none. */
    nameSound: text('name_sound'),
    createdAt: createdAt(),
  },
  (t) => [
    check('offers_calls_required', sql`${t.callsRequired} between 1 and 20`),
    check('offers_min_call_seconds', sql`${t.minCallSeconds} between 0 and 600`),
    check('offers_ttl', sql`${t.purchaseTtlSeconds} between 10 and 604800`),
    check('offers_hold', sql`${t.holdSeconds} between 10 and 604800`),
    // Each mode has its own lifetime column, and only that one.
    check(
      'offers_lifetime_by_mode',
      sql`(${t.purchaseTtlSeconds} is not null) = (${t.mode} = 'caller_id') and (${t.holdSeconds} is not null) = (${t.mode} = 'dynamic_number')`,
    ),
    check(
      'offers_dynamic_fields',
      sql`(${t.mode} <> 'dynamic_number') = (${t.maxHoldSeconds} is null and ${t.quarantineSeconds} is null)`,
    ),
    // An access-code offer has its code lifetime and formula window, and only it.
    check(
      'offers_access_code_fields',
      sql`(${t.mode} = 'access_code') = (${t.codeTtlSeconds} is not null and ${t.formulaWindowSeconds} is not null)`,
    ),
    check('offers_code_ttl', sql`${t.codeTtlSeconds} between 60 and 2678400`),
    check('offers_formula_window', sql`${t.formulaWindowSeconds} between 60 and 2678400`),
    check('offers_max_hold', sql`${t.maxHoldSeconds} is null or ${t.maxHoldSeconds} >= ${t.holdSeconds}`),
    check('offers_quarantine', sql`${t.quarantineSeconds} is null or ${t.quarantineSeconds} between 0 and 86400`),
    // A per-second offer says how many seconds, and only it does.
    check('offers_seconds_by_unit', sql`(${t.secondsRequired} is not null) = (${t.unit} = 'second')`),
    check('offers_seconds_required', sql`${t.secondsRequired} is null or ${t.secondsRequired} between 1 and 3600`),
  ],
);

/**
 * Premium numbers an offer is paid on, in E.164. A number may serve several offers (and
 * merchants): the caller's pending purchase on the dialed number decides which one is credited.
 */
export const offerNumbers = pgTable(
  'offer_numbers',
  {
    offerId: uuid('offer_id').notNull().references(() => offers.id),
    number: text('number').notNull(),
  },
  (t) => [primaryKey({ columns: [t.offerId, t.number] }), index('offer_numbers_number').on(t.number)],
);

/**
 * Per premium number settings, whatever offers use the number. `priceAnnouncement` is the sound
 * (e.g. "sanscode/price-2-99", a file under the sounds folder) that tells the caller the price,
 * played free of charge as early media before a call is answered; null where the carrier
 * already plays the mandatory announcement. `holdSound` is what a per-second caller hears
 * between the time-remaining announcements (looped, cut when the next one is due); null:
 * silence.
 */
export const numberSettings = pgTable('number_settings', {
  number: text('number').primaryKey(),
  priceAnnouncement: text('price_announcement'),
  holdSound: text('hold_sound'),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

/**
 * A buyer's purchase. `status` is the stored state; a pending purchase whose `expires_at` has
 * passed is expired whatever the column says (no sweeper is needed for correctness), and the
 * ledger writes the transition when it next touches the row.
 */
export const purchases = pgTable(
  'purchases',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    merchantId: uuid('merchant_id').notNull().references(() => merchants.id),
    offerId: uuid('offer_id').notNull().references(() => offers.id),
    mode: text('mode', { enum: offerModes }).notNull(),
    status: text('status', { enum: purchaseStatuses }).notNull().default('pending'),
    reference: text('reference'),
    callerNumber: text('caller_number'),
    numberToCall: text('number_to_call').notNull(),
    callsRequired: integer('calls_required').notNull(),
    callsCounted: integer('calls_counted').notNull().default(0),
    minCallSeconds: integer('min_call_seconds').notNull(),
    /** Copied from the offer: unit 'second' counts answered seconds, not calls. */
    unit: text('unit', { enum: purchaseUnits }).notNull().default('call'),
    secondsRequired: integer('seconds_required'),
    /** unit 'second': answered seconds credited so far, over all its calls. */
    secondsCounted: integer('seconds_counted').notNull().default(0),
    language: text('language', { enum: languages }).notNull(),
    createdAt: createdAt(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    completedAt: timestamp('completed_at', { withTimezone: true }),
    endedAt: timestamp('ended_at', { withTimezone: true }),
    /** The owner of callerNumber hung up during the identity prompt: "not my purchase". Stays pending. */
    disputedAt: timestamp('disputed_at', { withTimezone: true }),
    /** Keyed hash (HMAC-SHA256, key in `secrets`) of the buyer's address the merchant sent; personal data. */
    clientIpHash: text('client_ip_hash'),
    /** Personal data (caller number, buyer address) erased after the retention period. */
    anonymisedAt: timestamp('anonymised_at', { withTimezone: true }),
  },
  (t) => [
    check('purchases_counted', sql`${t.callsCounted} between 0 and ${t.callsRequired}`),
    check('purchases_seconds_by_unit', sql`(${t.secondsRequired} is not null) = (${t.unit} = 'second')`),
    // Never more seconds than the purchase needs: the caller never pays for a surplus.
    check('purchases_seconds_counted', sql`${t.secondsCounted} >= 0 and ${t.secondsCounted} <= coalesce(${t.secondsRequired}, 0)`),
    // A caller holds at most one pending purchase per number AT EACH MERCHANT. Per merchant,
    // not per number: a pending purchase made (or squatted) at another merchant must neither
    // block nor be revealed to this one. Which one a call pays is then the most recent (see
    // domain/identity.ts), and the caller hears whose it is. Enforced here, not only in code,
    // so it holds across several API processes.
    uniqueIndex('purchases_one_pending_per_caller_number_merchant')
      .on(t.numberToCall, t.callerNumber, t.merchantId)
      .where(sql`${t.status} = 'pending' and ${t.mode} = 'caller_id'`),
    index('purchases_merchant').on(t.merchantId, t.createdAt),
    index('purchases_caller_number').on(t.numberToCall, t.callerNumber, t.createdAt),
    // Creation limits count by these, across numbers and merchants.
    index('purchases_caller_created').on(t.callerNumber, t.createdAt),
    index('purchases_client_ip_created').on(t.clientIpHash, t.createdAt),
  ],
);

/**
 * One row per Asterisk channel, idempotent on the channel id. Never deleted. What each outcome
 * means: domain/vocabulary.ts.
 */
export const calls = pgTable(
  'calls',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    channelId: text('channel_id').notNull().unique(),
    asteriskId: text('asterisk_id'),
    dialedNumber: text('dialed_number'),
    dialedRaw: text('dialed_raw').notNull(),
    callerNumber: text('caller_number'),
    callerRaw: text('caller_raw').notNull(),
    outcome: text('outcome', { enum: callOutcomes }).notNull(),
    purchaseId: uuid('purchase_id').references(() => purchases.id),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
    answeredAt: timestamp('answered_at', { withTimezone: true }),
    countedAt: timestamp('counted_at', { withTimezone: true }),
    endedAt: timestamp('ended_at', { withTimezone: true }),
    answeredSeconds: integer('answered_seconds'),
    /** unit 'second': seconds this call has credited so far (periodic credits + the final one). */
    secondsCredited: integer('seconds_credited').notNull().default(0),
    hangupCause: integer('hangup_cause'),
    hangupCauseText: text('hangup_cause_text'),
    /** Personal data (caller number) erased after the retention period. */
    anonymisedAt: timestamp('anonymised_at', { withTimezone: true }),
  },
  (t) => [
    index('calls_purchase').on(t.purchaseId),
    index('calls_caller').on(t.callerNumber, t.startedAt),
    index('calls_in_progress').on(t.asteriskId).where(sql`${t.outcome} = 'in_progress'`),
    // The operator's call list (newest first, LIMIT) and reports (a period) read by start time.
    index('calls_started').on(t.startedAt),
  ],
);

/**
 * A pool number lent to one dynamic_number purchase. The lending occupies the number from
 * `lent_at` to `rest_until` = end of the hold (or release) + quarantine; the exclusion
 * constraint (added in the migration, drizzle cannot declare it) makes two occupations of one
 * number overlap-proof in PostgreSQL itself, whatever the number of API processes. The lending
 * is live while now() < hold_until and it is not released: expiry needs no sweeper.
 */
export const numberLendings = pgTable(
  'number_lendings',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    offerId: uuid('offer_id').notNull().references(() => offers.id),
    number: text('number').notNull(),
    purchaseId: uuid('purchase_id').notNull().unique().references(() => purchases.id),
    lentAt: timestamp('lent_at', { withTimezone: true }).notNull().defaultNow(),
    holdUntil: timestamp('hold_until', { withTimezone: true }).notNull(),
    releasedAt: timestamp('released_at', { withTimezone: true }),
    restUntil: timestamp('rest_until', { withTimezone: true }).notNull(),
  },
  (t) => [
    index('number_lendings_number').on(t.number, t.restUntil),
    check('number_lendings_order', sql`${t.lentAt} <= ${t.holdUntil} and ${t.lentAt} <= ${t.restUntil}`),
  ],
);

/**
 * The operator's credit of a call the IVR lost (outcome `lost`: the channel vanished, so the
 * IVR could not time it) but the carrier billed: who credited it and why. One row per call at
 * most (unique call_id), written in the transaction that counts the call for its purchase.
 */
export const callCredits = pgTable(
  'call_credits',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    callId: uuid('call_id').notNull().unique().references(() => calls.id),
    purchaseId: uuid('purchase_id').notNull().references(() => purchases.id),
    /** "admin-api" for the HTTP API (one admin token), the operator's OS user for the CLI. */
    creditedBy: text('credited_by').notNull(),
    reason: text('reason').notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('call_credits_purchase').on(t.purchaseId)],
);

export const purchaseEventTypes = [
  'created',
  'call_started', // a call for this purchase was answered: "call in progress"
  'call_ended', // an answered call ended without being counted (too short, lost)
  'call_counted',
  'seconds_credited', // unit 'second': answered seconds credited (at most one every 10 s, and at hang-up)
  'completed',
  'expired',
  'cancelled',
  'extended',
  'code_issued', // access_code: the last call of the formula issued its code
  'code_redeemed', // access_code: the merchant redeemed that code
  'disputed', // the caller hung up during the identity prompt: "I did not make this purchase"
] as const;
export type PurchaseEventType = (typeof purchaseEventTypes)[number];

/**
 * Append-only audit trail of every purchase state change, each with a snapshot of the purchase
 * as it stood. Its id orders the live stream (SSE ids) and webhook events.
 */
export const purchaseEvents = pgTable(
  'purchase_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    purchaseId: uuid('purchase_id').notNull().references(() => purchases.id),
    type: text('type', { enum: purchaseEventTypes }).notNull(),
    callsCounted: integer('calls_counted').notNull(),
    callId: uuid('call_id').references(() => calls.id),
    /** { purchase: Purchase JSON, callInProgress: boolean } at the time of the event. */
    data: jsonb('data').notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('purchase_events_purchase').on(t.purchaseId, t.id)],
);

/**
 * Webhook outbox: written in the same transaction as the event it carries, delivered by
 * webhooks/sender.ts through db/ledger/webhooks.ts (any number of processes; FOR UPDATE SKIP
 * LOCKED), in order per purchase.
 */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    merchantId: uuid('merchant_id').notNull().references(() => merchants.id),
    purchaseId: uuid('purchase_id').notNull().references(() => purchases.id),
    eventId: bigint('event_id', { mode: 'number' }).notNull().references(() => purchaseEvents.id),
    type: text('type').notNull(),
    /** The exact JSON body, fixed at enqueue so every retry sends the same bytes. */
    body: text('body').notNull(),
    status: text('status', { enum: ['pending', 'delivered', 'failed'] }).notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true }).notNull().defaultNow(),
    lastAttemptAt: timestamp('last_attempt_at', { withTimezone: true }),
    lastStatusCode: integer('last_status_code'),
    lastError: text('last_error'),
    deliveredAt: timestamp('delivered_at', { withTimezone: true }),
    createdAt: createdAt(),
  },
  (t) => [
    index('webhook_deliveries_due').on(t.nextAttemptAt).where(sql`${t.status} = 'pending'`),
    index('webhook_deliveries_purchase').on(t.purchaseId, t.id),
    index('webhook_deliveries_merchant').on(t.merchantId, t.id),
  ],
);

/**
 * Codes issued at the last call of an access-code formula (a purchase of mode access_code,
 * opened by the formula's first call). The code is unique among unredeemed codes (partial
 * unique index), random (crypto.randomInt) and never logged. Redemption is one conditional
 * UPDATE, so a code is consumed at most once whatever the concurrency.
 */
export const accessCodes = pgTable(
  'access_codes',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    code: text('code').notNull(),
    merchantId: uuid('merchant_id').notNull().references(() => merchants.id),
    offerId: uuid('offer_id').notNull().references(() => offers.id),
    /** The formula (access_code purchase) whose last call issued it. */
    purchaseId: uuid('purchase_id').notNull().unique().references(() => purchases.id),
    /** The call that completed the formula. */
    callId: uuid('call_id').references(() => calls.id),
    /** E.164, null for a withheld caller (single-call formula). */
    callerNumber: text('caller_number'),
    dialedNumber: text('dialed_number').notNull(),
    callsCounted: integer('calls_counted').notNull(),
    issuedAt: timestamp('issued_at', { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    redeemedAt: timestamp('redeemed_at', { withTimezone: true }),
    reference: text('reference'),
  },
  (t) => [
    check('access_codes_shape', sql`${t.code} ~ '^[0-9]{8}$'`),
    uniqueIndex('access_codes_unredeemed').on(t.code).where(sql`${t.redeemedAt} is null`),
    index('access_codes_code').on(t.code),
    index('access_codes_caller').on(t.callerNumber, t.issuedAt),
    index('access_codes_offer').on(t.offerId, t.issuedAt),
    index('access_codes_call').on(t.callId),
  ],
);

/** Failed code redemptions and checks, per merchant: the bound on guessing (domain/access-code.ts). */
export const codeRedeemFailures = pgTable(
  'code_redeem_failures',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    merchantId: uuid('merchant_id').notNull().references(() => merchants.id),
    failedAt: timestamp('failed_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('code_redeem_failures_merchant').on(t.merchantId, t.failedAt)],
);

/** Process-wide secrets shared by every API process (e.g. the client-token key). */
export const secrets = pgTable('secrets', {
  name: text('name').primaryKey(),
  value: text('value').notNull(),
  createdAt: createdAt(),
});

/**
 * Records made once per database, by whichever process asks first, and read by all; not
 * secrets (those are in `secrets`) and not money state. E.g. `demo`: the ids of the demo
 * merchant and its offers.
 */
export const appState = pgTable('app_state', {
  name: text('name').primaryKey(),
  value: jsonb('value').notNull(),
  createdAt: createdAt(),
});

export type Merchant = typeof merchants.$inferSelect;
export type Offer = typeof offers.$inferSelect;
export type PurchaseRow = typeof purchases.$inferSelect;
export type CallRow = typeof calls.$inferSelect;
export type CallCreditRow = typeof callCredits.$inferSelect;
export type AccessCodeRow = typeof accessCodes.$inferSelect;
