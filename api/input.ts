// What every route does with a request's input, written once: parse it (400 listing each
// invalid field), read its phone numbers (422), and find the record its path names (404 when
// it names nothing, a malformed id included).
import type { z, ZodError } from 'zod';
import { toE164 } from '../core/phone.js';
import type { Database } from '../db/client.js';
import { getMerchant, getOffer, getPurchase, type MerchantView, type OfferView } from '../db/ledger/index.js';
import type { PurchaseView } from '../domain/index.js';
import { HttpProblem, invalidPhone, invalidRequest, notFound } from './problem.js';
import { uuidParam } from './schemas.js';

function parseOr<S extends z.ZodType>(schema: S, input: unknown, refuse: (error: ZodError) => HttpProblem): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw refuse(result.error);
  return result.data;
}

/** The body or query as `schema` reads it; otherwise the 400 problem with its `errors`. */
export function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  return parseOr(schema, input, invalidRequest);
}

/** `raw` (a number as typed, national numbers in `region`) in E.164; otherwise the 422 naming `field`. */
export function phoneOr422(field: string, raw: string, region: string): string {
  const e164 = toE164(raw, region);
  if (!e164) throw invalidPhone(field, raw);
  return e164;
}

/** The id in a path. One that is not a UUID names nothing: 404, exactly like a missing one. */
export function pathId(what: string, rawId: string): string {
  return parseOr(uuidParam, rawId, () => notFound(`No ${what} with id ${rawId}.`));
}

async function foundOr404<T>(what: string, rawId: string, find: (id: string) => Promise<T | null>): Promise<T> {
  const found = await find(pathId(what, rawId));
  if (!found) throw notFound(`No ${what} with id ${rawId}.`);
  return found;
}

export function merchantOr404(db: Database, rawId: string): Promise<MerchantView> {
  return foundOr404('merchant', rawId, (id) => getMerchant(db, id));
}

export function offerOr404(db: Database, rawId: string): Promise<OfferView> {
  return foundOr404('offer', rawId, (id) => getOffer(db, id));
}

/** Only the merchant's own: another merchant's purchase is a 404, like a missing one. */
export function purchaseOr404(db: Database, merchantId: string, rawId: string): Promise<PurchaseView> {
  return foundOr404('purchase', rawId, (id) => getPurchase(db, merchantId, id));
}
