// The API contract as an OpenAPI 3.1 document, generated from the zod schemas that validate
// requests and type responses (api/schemas.ts); nothing here restates a field. Each route of
// the app is one operation below: test/integration/openapi.test.ts checks that the two lists
// match, and every integration test checks real answers against these responses.
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject, type ZodOpenApiResponseObject } from 'zod-openapi';
import * as s from './schemas.js';

const version = (() => {
  // From the source tree (api/) or a build (dist/api/).
  const file = ['../package.json', '../../package.json'].map((p) => path.resolve(import.meta.dirname, p)).find((p) => existsSync(p))!;
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
})();

const json = (description: string, schema: z.ZodType, headers?: z.ZodObject): ZodOpenApiResponseObject => ({ description, content: { 'application/json': { schema } }, ...(headers && { headers }) });

const problem = (description: string, headers?: z.ZodObject): ZodOpenApiResponseObject => ({
  description,
  content: { 'application/problem+json': { schema: s.problemResponse } },
  ...(headers && { headers }),
});

const retryAfter = z.string().regex(/^\d+$/).meta({ description: 'Seconds to wait before retrying.' });
const location = z.object({ Location: z.string().meta({ description: 'The path of what was created.' }) });

/** What any request may be refused with, by who it comes from. */
const refusals = {
  malformed: { 400: problem('Malformed path (bad percent-encoding), body (JSON, UTF-8) or fields; `errors` lists each refused field.') },
  admin: {
    401: problem('Missing or wrong admin token (or the admin API is disabled: no ADMIN_TOKEN).', z.object({ 'WWW-Authenticate': z.literal('Bearer') })),
    429: problem('Too many failed authentications from this address.', z.object({ 'Retry-After': retryAfter })),
  },
  merchant: {
    401: problem('Missing or wrong API key.', z.object({ 'WWW-Authenticate': z.literal('Bearer') })),
    429: problem('Too many failed authentications from this address.', z.object({ 'Retry-After': retryAfter })),
  },
  client: {
    401: problem('Missing, invalid or expired client token.'),
    429: problem('Too many failed authentications from this address.', z.object({ 'Retry-After': retryAfter })),
  },
  body: {
    413: problem('Body over 16 kB.'),
    415: problem('Body sent with a Content-Encoding, or in a charset other than UTF-8.'),
  },
  server: { 500: problem('Unexpected error; nothing was changed.') },
};

type Caller = 'admin' | 'merchant' | 'client' | 'public';

const security = { admin: [{ adminToken: [] }], merchant: [{ merchantKey: [] }], client: [{ clientToken: [] }], public: [] };

/** An operation: its caller's security and refusals, and what it answers itself (which wins). */
function op(caller: Caller, operation: ZodOpenApiOperationObject): ZodOpenApiOperationObject {
  return {
    tags: [caller === 'public' ? 'meta' : caller],
    security: security[caller],
    ...operation,
    responses: {
      ...refusals.malformed,
      ...(caller === 'public' ? {} : refusals[caller]),
      ...(operation.requestBody ? refusals.body : {}),
      ...refusals.server,
      ...operation.responses,
    },
  };
}

const body = (schema: z.ZodType) => ({ required: true, content: { 'application/json': { schema } } });
const idParam = (what: string) => z.object({ id: z.uuid().meta({ description: `The ${what}'s id (anything else is 404).` }) });

/** An event stream; each event's `data` is a PurchaseLiveEvent. */
const eventStream: ZodOpenApiResponseObject = {
  description:
    'Server-Sent Events until the client leaves: `id` (increasing; reconnect with Last-Event-ID), `event` (progress, completed, expired, cancelled), `data` (a PurchaseLiveEvent as JSON).',
  content: { 'text/event-stream': { schema: z.string() } },
};
const resumeFrom = { query: z.object({ lastEventId: z.coerce.number().int().min(0).optional().meta({ description: 'Resume after this event id (EventSource sends Last-Event-ID instead).' }) }) };
const streamRefusals = {
  429: problem('Too many streams open for this purchase, or too many failed authentications.'),
  503: problem('This server has no stream to spare.', z.object({ 'Retry-After': retryAfter })),
};

export const apiPaths = {
  '/healthz': { get: op('public', { operationId: 'health', summary: 'Liveness', responses: { 200: json('The API answers.', s.healthResponse) } }) },
  '/readyz': {
    get: op('public', {
      operationId: 'ready',
      summary: 'Readiness',
      responses: {
        200: json('Ready: the database answers (and, with the IVR in this process, ARI is connected and the worker active).', s.readinessResponse),
        503: json('Not ready; `checks` says which part is down.', s.readinessResponse),
      },
    }),
  },
  '/widget.js': {
    get: op('public', {
      operationId: 'widget',
      summary: 'The embeddable widget',
      responses: { 200: { description: 'web/widget.js; cacheable 5 minutes.', content: { 'text/javascript': { schema: z.string() } } }, 404: problem('Not shipped with this build.') },
    }),
  },
  '/openapi.json': {
    get: op('public', { operationId: 'openapi', summary: 'This document', responses: { 200: { description: 'OpenAPI 3.1', content: { 'application/json': { schema: z.looseObject({ openapi: z.string() }) } } } } }),
  },
  '/docs': { get: op('public', { operationId: 'docs', summary: 'This document as a page', responses: { 200: { description: 'Swagger UI, served from this server.', content: { 'text/html': { schema: z.string() } } } } }) },
  '/docs/{asset}': {
    get: op('public', {
      operationId: 'docsAsset',
      summary: "The page's scripts and styles",
      requestParams: { path: z.object({ asset: z.string() }) },
      responses: { 200: { description: 'A Swagger UI file.', content: { 'text/css': { schema: z.string() }, 'application/javascript': { schema: z.string() }, 'image/png': { schema: z.string() } } }, 404: problem('No such file.') },
    }),
  },

  '/v1/admin/merchants': {
    post: op('admin', {
      operationId: 'createMerchant',
      summary: 'Create a merchant and its API key',
      requestBody: body(s.createMerchantBody),
      responses: { 201: json('The merchant, with its API key (shown only here).', s.createdMerchantResponse, location) },
    }),
    get: op('admin', {
      operationId: 'listMerchants',
      summary: 'List merchants, newest first',
      requestParams: { query: s.merchantsQuery },
      responses: { 200: json('The merchants (never their keys).', s.merchantListResponse) },
    }),
  },
  '/v1/admin/merchants/{id}': {
    get: op('admin', { operationId: 'getMerchant', summary: 'Read a merchant', requestParams: { path: idParam('merchant') }, responses: { 200: json('The merchant.', s.merchantResponse), 404: problem('No such merchant.') } }),
  },
  '/v1/admin/offers': {
    post: op('admin', {
      operationId: 'createOffer',
      summary: 'Create an offer',
      description:
        'caller_id offers take purchaseTtlSeconds; dynamic_number offers take holdSeconds, and optionally maxHoldSeconds (default holdSeconds) and quarantineSeconds (default 300); access_code offers optionally take codeTtlSeconds (default 86400, at most 31 days) and formulaWindowSeconds (default 3600). ' +
        'unit "call" (the default) takes callsRequired and minCallSeconds; unit "second" (caller_id and dynamic_number only) takes secondsRequired (1..3600) instead: purchases count answered seconds over any number of calls, one call at a time.',
      requestBody: body(s.createOfferBody),
      responses: {
        201: json('The offer, numbers in E.164.', s.offerResponse, location),
        409: problem('number-in-use: a number is in a dynamic-number pool or an access-code offer, or a pool or access-code number is in another offer (`numbers`).'),
        422: problem('invalid-phone-number (`errors` names each unusable number) or unknown-merchant.'),
      },
    }),
  },
  '/v1/admin/offers/{id}': {
    get: op('admin', { operationId: 'getOffer', summary: 'Read an offer', requestParams: { path: idParam('offer') }, responses: { 200: json('The offer.', s.offerResponse), 404: problem('No such offer.') } }),
  },
  '/v1/admin/offers/{id}/pool': {
    get: op('admin', {
      operationId: 'getPool',
      summary: "State of a dynamic-number offer's pool",
      requestParams: { path: idParam('offer') },
      responses: { 200: json('Each number: free, lent (to purchaseId, until the end of the hold) or resting (until).', s.poolResponse), 404: problem('No such offer, or not a dynamic_number offer.') },
    }),
  },
  '/v1/admin/numbers/{number}': {
    put: op('admin', {
      operationId: 'setNumberSettings',
      summary: "Set how a number sounds: price announcement, hold sound",
      description:
        'priceAnnouncement: the sound played free, as early media, before a call on this number is answered (null: the carrier plays it). holdSound: per-second purchases, what the caller hears between the time-remaining announcements (null: silence). A setting left out keeps its value; at least one is required.',
      requestParams: { path: z.object({ number: z.string().meta({ description: 'The premium number, national or E.164.', examples: ['0899123456'] }) }) },
      requestBody: body(s.numberSettingsBody),
      responses: { 200: json('The settings, number in E.164.', s.numberSettingsResponse), 422: problem('invalid-phone-number: the path is not a usable number.') },
    }),
  },
  '/v1/admin/merchants/{id}/name-sound': {
    put: op('admin', {
      operationId: 'setMerchantNameSound',
      summary: "Set a merchant's recorded name",
      description:
        'The sound callers hear free, before the answer: "this call pays for a purchase made on <name>". null: the generic sentence ("…made on a website with your number").',
      requestParams: { path: idParam('merchant') },
      requestBody: body(s.nameSoundBody),
      responses: { 200: json('The recorded name.', s.nameSoundResponse), 404: problem('No such merchant.') },
    }),
  },
  '/v1/admin/offers/{id}/name-sound': {
    put: op('admin', {
      operationId: 'setOfferNameSound',
      summary: "Set an offer's recorded name",
      description: 'The sound callers hear free, before the answer, after the merchant\'s: "for <name>" (what the purchase is for). null: none.',
      requestParams: { path: idParam('offer') },
      requestBody: body(s.nameSoundBody),
      responses: { 200: json('The recorded name.', s.nameSoundResponse), 404: problem('No such offer.') },
    }),
  },
  '/v1/admin/callers/{number}': {
    get: op('admin', {
      operationId: 'getCaller',
      summary: 'Everything recorded about a phone number',
      description: 'Purchases at every merchant, calls (outcome `disputed`: the owner hung up during the identity prompt), access codes.',
      requestParams: { path: z.object({ number: z.string().meta({ description: 'The phone number, national or E.164.', examples: ['0612345678'] }) }) },
      responses: { 200: json("The caller's record.", s.callerRecordResponse), 422: problem('invalid-phone-number: the path is not a usable number.') },
    }),
    delete: op('admin', {
      operationId: 'anonymiseCaller',
      summary: "Anonymise a caller's personal data",
      description:
        'Erases the phone number (and buyer address hash) from every record older than RETENTION_DAYS (a purchase: since it ended or expired; a call: since it ended). Amounts, times and outcomes stay. Younger records are kept and counted, with the date from which they can go too. Running it again changes nothing.',
      requestParams: { path: z.object({ number: z.string().meta({ description: 'The phone number, national or E.164.', examples: ['0612345678'] }) }) },
      responses: { 200: json('What was anonymised and what is kept.', s.anonymisationResponse), 422: problem('invalid-phone-number: the path is not a usable number.') },
    }),
  },
  '/v1/admin/calls': {
    get: op('admin', {
      operationId: 'listCalls',
      summary: 'The call record, newest first',
      requestParams: { query: s.callsQuery },
      responses: { 200: json('Calls matching every filter given.', s.callListResponse), 422: problem('invalid-phone-number: `dialed` is not a usable number.') },
    }),
  },

  '/v1/admin/calls/{id}/credit': {
    post: op('admin', {
      operationId: 'creditLostCall',
      summary: 'Credit a lost call the carrier billed',
      description:
        'Counts a call the IVR lost (outcome `lost`, answered) for its purchase, once, under the purchase lock, with the usual events and webhooks; the audit trail keeps who and why. `{id}` is the channel id the call record lists, or the call id.',
      requestParams: { path: z.object({ id: z.string().meta({ description: 'Channel id (or call id) of the lost call.' }) }) },
      requestBody: body(s.creditCallBody),
      responses: {
        200: json('The credit and the purchase after it.', s.callCreditResponse),
        400: problem('Malformed body: `reason` is required.'),
        404: problem('No such call.'),
        409: problem('call-not-creditable: not a lost answered call, already credited, or its purchase is completed or cancelled.'),
      },
    }),
  },

  '/v1/admin/codes': {
    get: op('admin', {
      operationId: 'listCodes',
      summary: 'Access codes issued, newest first (support: a caller who lost their code)',
      requestParams: { query: s.codesQuery },
      responses: { 200: json('Codes matching every filter given, with their values.', s.codeListResponse), 422: problem('invalid-phone-number: `caller` is not a usable number.') },
    }),
  },

  '/v1/codes/redeem': {
    post: op('merchant', {
      operationId: 'redeemCode',
      summary: 'Redeem an access code (consumes it, once)',
      description:
        'Atomic: of any number of concurrent redemptions of one code, exactly one succeeds. Every failure (404, 409, 410) counts against the merchant’s bound of 300 failed redemptions or checks per rolling hour; past it, 429 until the oldest failure leaves the hour.',
      requestBody: body(s.redeemCodeBody),
      responses: {
        200: json('The code, now redeemed.', s.redeemedCodeResponse),
        404: problem('No such code (or another merchant’s).'),
        409: problem('code-already-used (`redeemedAt`).'),
        410: problem('code-expired (`expiredAt`).'),
        429: problem('too-many-failed-redemptions (or too many failed authentications).', z.object({ 'Retry-After': retryAfter })),
      },
    }),
  },
  '/v1/codes/{code}': {
    get: op('merchant', {
      operationId: 'checkCode',
      summary: 'Check an access code without consuming it',
      requestParams: { path: z.object({ code: z.string().meta({ description: 'The 8-digit code.' }) }) },
      responses: {
        200: json('The code and its status (valid, redeemed, expired).', s.codeResponse),
        404: problem('No such code (or another merchant’s); counts as a failed redemption.'),
        429: problem('too-many-failed-redemptions (or too many failed authentications).', z.object({ 'Retry-After': retryAfter })),
      },
    }),
  },

  '/v1/purchases': {
    post: op('merchant', {
      operationId: 'createPurchase',
      summary: 'Create a purchase',
      description:
        'caller_id offers need callerNumber (the buyer); dynamic_number offers lend a free number for the hold time. One pending purchase per caller and number at each merchant: when the caller has one of yours on every number of the offer, 409 (with pendingPurchaseId when it is for this offer). Pending purchases at other merchants are never revealed: a call pays the most recent one, and the caller hears whose it is before the answer. At most PURCHASES_PER_NUMBER_PER_HOUR purchases per phone number (all merchants) and PURCHASES_PER_CLIENT_IP_PER_HOUR per clientIp: 429 past it.',
      requestBody: body(s.createPurchaseBody),
      responses: {
        201: json('The purchase, with a client token for the buyer’s browser.', s.createdPurchaseResponse, location),
        400: problem('Malformed path, body or fields, or callerNumber missing for a caller_id offer; `errors` lists each refused field.'),
        404: problem('No such offer (or another merchant’s).'),
        409: problem('caller-has-pending-purchase (yours only), or access-code-offer (callers pay access-code offers by calling; no purchase is created).'),
        422: problem('invalid-phone-number: callerNumber is not a usable number.'),
        429: problem(
          'too-many-purchases: too many purchases for this phone number (all merchants) or from this clientIp in the last hour (`retryAfterSeconds`); or too many failed authentications.',
          z.object({ 'Retry-After': retryAfter }),
        ),
        503: problem('pool-exhausted: every number of the pool is lent or resting.', z.object({ 'Retry-After': retryAfter })),
      },
    }),
  },
  '/v1/purchases/{id}': {
    get: op('merchant', { operationId: 'getPurchase', summary: 'Read a purchase', requestParams: { path: idParam('purchase') }, responses: { 200: json('The purchase.', s.purchaseResponse), 404: problem('No such purchase (or another merchant’s).') } }),
  },
  '/v1/purchases/{id}/cancel': {
    post: op('merchant', {
      operationId: 'cancelPurchase',
      summary: 'Cancel a pending purchase',
      requestParams: { path: idParam('purchase') },
      responses: { 200: json('The purchase, cancelled; a lent number is released.', s.purchaseResponse), 404: problem('No such purchase (or another merchant’s).'), 409: problem('purchase-not-pending.') },
    }),
  },
  '/v1/purchases/{id}/extend': {
    post: op('merchant', {
      operationId: 'extendPurchase',
      summary: 'Extend the hold of a lent number',
      description: 'Moves the end of the hold to now + holdSeconds, never past maxHoldSeconds after the lending began.',
      requestParams: { path: idParam('purchase') },
      responses: {
        200: json('The purchase, expiresAt moved.', s.purchaseResponse),
        404: problem('No such purchase (or another merchant’s).'),
        409: problem('purchase-not-pending, not-a-lent-number (a caller_id purchase) or hold-at-maximum (`expiresAt`).'),
      },
    }),
  },
  '/v1/purchases/{id}/client-token': {
    post: op('merchant', {
      operationId: 'issueClientToken',
      summary: 'A fresh client token for the buyer’s browser',
      requestParams: { path: idParam('purchase') },
      responses: { 200: json('Valid until the purchase ends plus ten minutes, at most 24 h.', s.clientTokenResponse), 404: problem('No such purchase (or another merchant’s).') },
    }),
  },
  '/v1/purchases/{id}/events': {
    get: op('merchant', {
      operationId: 'purchaseEvents',
      summary: 'Live progress of a purchase (Server-Sent Events)',
      requestParams: { path: idParam('purchase'), ...resumeFrom },
      responses: { 200: eventStream, 404: problem('No such purchase (or another merchant’s).'), ...streamRefusals },
    }),
  },
  '/v1/allowed-origins': {
    get: op('merchant', { operationId: 'getAllowedOrigins', summary: 'Browser origins allowed to read purchases with a client token', responses: { 200: json('The origins.', s.allowedOriginsResponse) } }),
    put: op('merchant', {
      operationId: 'setAllowedOrigins',
      summary: 'Set the browser origins allowed to read purchases with a client token (CORS)',
      requestBody: body(s.allowedOriginsBody),
      responses: { 200: json('The origins, each once.', s.allowedOriginsResponse) },
    }),
  },
  '/v1/webhook': {
    put: op('merchant', {
      operationId: 'setWebhook',
      summary: 'Set the webhook URL',
      description: 'The secret is kept across URL changes unless rotateSecret is true.',
      requestBody: body(s.putWebhookBody),
      responses: { 200: json('The URL and the signing secret.', s.webhookSettingsResponse), 422: problem('webhook-destination-refused: the URL resolves to a private address.') },
    }),
    delete: op('merchant', { operationId: 'removeWebhook', summary: 'Remove the webhook', responses: { 204: { description: 'Removed; pending deliveries are failed.' } } }),
  },
  '/v1/webhook-deliveries': {
    get: op('merchant', { operationId: 'listDeliveries', summary: 'Webhook deliveries, newest first', requestParams: { query: s.deliveriesQuery }, responses: { 200: json('The deliveries.', s.deliveryListResponse) } }),
  },

  '/v1/client/purchase': {
    get: op('client', {
      operationId: 'clientPurchase',
      summary: 'The purchase as the buyer’s page draws it',
      responses: { 200: json('CORS allowed for the merchant’s allowed origins.', s.clientPurchaseResponse), 404: problem('The purchase is gone.') },
    }),
  },
  '/v1/client/events': {
    get: op('client', { operationId: 'clientEvents', summary: 'Live progress for the buyer’s page (Server-Sent Events)', requestParams: resumeFrom, responses: { 200: eventStream, ...streamRefusals } }),
  },
} satisfies ZodOpenApiPathsObject;

let document: ReturnType<typeof createDocument> | null = null;

/** The OpenAPI document, built once. */
export function openApiDocument(): ReturnType<typeof createDocument> {
  document ??= createDocument({
    openapi: '3.1.0',
    info: {
      title: 'sanscode',
      version,
      description:
        'Codeless premium-rate micropayments. Errors are application/problem+json (RFC 9457); a refused request changes nothing. Merchant backends use their API key; a buyer’s browser uses the client token of one purchase, never the key.',
    },
    tags: [
      { name: 'merchant', description: 'A merchant’s backend, with its API key.' },
      { name: 'client', description: 'A buyer’s browser, with the client token of one purchase.' },
      { name: 'admin', description: 'The operator, with ADMIN_TOKEN.' },
      { name: 'meta', description: 'Public.' },
    ],
    paths: apiPaths,
    webhooks: {
      purchaseEvent: {
        post: {
          summary: 'A purchase changed (sent to the merchant’s webhook URL)',
          description:
            'Signed: `Sanscode-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` with the webhook secret. Retried with exponential backoff for 72 h until a 2xx; de-duplicate by `id`.',
          requestParams: { header: z.object({ 'Sanscode-Signature': z.string() }) },
          requestBody: body(s.webhookEvent),
          responses: { '2XX': { description: 'Received.' } },
        },
      },
      codeEvent: {
        post: {
          summary: 'An access code was issued or redeemed (sent to the merchant’s webhook URL)',
          description: 'Signed and retried like purchase events. Carries the offer and the calls, never the code itself.',
          requestParams: { header: z.object({ 'Sanscode-Signature': z.string() }) },
          requestBody: body(s.codeWebhookEvent),
          responses: { '2XX': { description: 'Received.' } },
        },
      },
    },
    components: {
      securitySchemes: {
        merchantKey: { type: 'http', scheme: 'bearer', description: 'The merchant API key (sk_…).' },
        adminToken: { type: 'http', scheme: 'bearer', description: 'The operator’s ADMIN_TOKEN.' },
        clientToken: { type: 'apiKey', in: 'query', name: 'token', description: 'A client token (ct_…) naming one purchase.' },
      },
      schemas: {
        Problem: s.problemResponse,
        Purchase: s.purchaseResponse,
        CreatedPurchase: s.createdPurchaseResponse,
        ClientPurchase: s.clientPurchaseResponse,
        PurchaseLiveEvent: s.purchaseLiveEvent,
        Offer: s.offerResponse,
        Merchant: s.merchantResponse,
        CreatedMerchant: s.createdMerchantResponse,
        Pool: s.poolResponse,
        WebhookEvent: s.webhookEvent,
        CodeWebhookEvent: s.codeWebhookEvent,
        Code: s.codeResponse,
        NewMerchant: s.createMerchantBody,
        NewOffer: s.createOfferBody,
        NewPurchase: s.createPurchaseBody,
        NumberSettings: s.numberSettingsBody,
        NameSound: s.nameSoundBody,
        CallerRecord: s.callerRecordResponse,
        WebhookSettings: s.putWebhookBody,
        AllowedOrigins: s.allowedOriginsBody,
      },
    },
  });
  return document;
}
