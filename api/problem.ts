// Errors as RFC 9457 problem details. Every refusal the API makes goes through `problem`,
// and the error handler turns anything unexpected into a 500 that reveals nothing.
import type { ServerResponse } from 'node:http';
import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import type { ZodError } from 'zod';
import { LedgerError } from '../db/ledger/index.js';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  [extension: string]: unknown;
}

/** Thrown by handlers; rendered by `problemHandler`. */
export class HttpProblem extends Error {
  readonly problem: Problem;
  readonly headers: Record<string, string>;
  constructor(status: number, slug: string, title: string, detail: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
    super(detail);
    this.problem = { type: `urn:sanscode:problem:${slug}`, title, status, detail, ...extra };
    this.headers = headers;
  }
}

/** Responses that are a deliberate 503 (no free number, too many streams): not faults. */
const capacityRefusals = new WeakSet<ServerResponse>();

export function sendProblem(res: Response, p: HttpProblem): void {
  for (const [k, v] of Object.entries(p.headers)) res.setHeader(k, v);
  if (p.problem.status === 503) capacityRefusals.add(res);
  res.status(p.problem.status).type('application/problem+json').send(JSON.stringify(p.problem));
}

/** A 503 the API chose to answer (with Retry-After): logged at info, never as an error. */
export function isCapacityRefusal(res: ServerResponse): boolean {
  return capacityRefusals.has(res);
}

export const notFound = (detail: string) => new HttpProblem(404, 'not-found', 'Not Found', detail);

/** 400 with one entry per offending field, e.g. `{ field: "callsRequired", message: "..." }`. */
export function invalidRequest(error: ZodError): HttpProblem {
  const errors = error.issues.map((i) => ({ field: i.path.join('.') || '(body)', message: i.message }));
  return new HttpProblem(400, 'invalid-request', 'Invalid request', `The request has ${errors.length} invalid field(s): ${errors.map((e) => e.field).join(', ')}.`, { errors });
}

/**
 * 422: the field has the shape of a phone number (schemas.ts checks that, 400) but is not a
 * usable one. One entry in `errors` per number refused, e.g. `{ field: "numbers", message: ... }`.
 */
export function invalidPhone(field: string, raw: string | readonly string[]): HttpProblem {
  const refused = typeof raw === 'string' ? [raw] : raw;
  const detail = refused.length === 1 ? `"${refused[0]}" is not a valid phone number.` : `Not valid phone numbers: ${refused.map((r) => `"${r}"`).join(', ')}.`;
  return new HttpProblem(422, 'invalid-phone-number', 'Invalid phone number', detail, {
    errors: refused.map((r) => ({ field, message: `not a valid phone number: ${r}` })),
  });
}

/** The HTTP face of each ledger refusal. */
export function fromLedgerError(err: LedgerError): HttpProblem {
  switch (err.code) {
    case 'merchant_not_found':
      return new HttpProblem(422, 'unknown-merchant', 'Unknown merchant', err.message, { errors: [{ field: 'merchantId', message: 'no such merchant' }] });
    case 'offer_not_found':
    case 'purchase_not_found':
    case 'call_not_found':
      return notFound(err.message);
    case 'call_not_creditable':
      return new HttpProblem(409, 'call-not-creditable', 'Call not creditable', err.message, err.extra);
    case 'caller_number_required':
      return new HttpProblem(400, 'invalid-request', 'Invalid request', err.message, { errors: [{ field: 'callerNumber', message: 'required by this offer' }] });
    case 'number_in_use':
      return new HttpProblem(409, 'number-in-use', 'Number already in use', err.message, err.extra);
    case 'caller_has_pending_purchase':
      return new HttpProblem(409, 'caller-has-pending-purchase', 'Pending purchase exists', err.message, err.extra);
    case 'purchase_not_pending':
      return new HttpProblem(409, 'purchase-not-pending', 'Purchase not pending', err.message);
    case 'hold_at_maximum':
      return new HttpProblem(409, 'hold-at-maximum', 'Hold at its maximum', err.message, err.extra);
    case 'not_a_lending':
      return new HttpProblem(409, 'not-a-lent-number', 'Not a lent number', err.message);
    case 'too_many_purchases': {
      const seconds = Number(err.extra.retryAfterSeconds ?? 1);
      return new HttpProblem(429, 'too-many-purchases', 'Too many purchases', `${err.message} Retry in ${seconds} s.`, { retryAfterSeconds: seconds }, { 'Retry-After': String(seconds) });
    }
    case 'pool_exhausted': {
      const seconds = Number(err.extra.retryAfterSeconds ?? 1);
      return new HttpProblem(503, 'pool-exhausted', 'No number free', `${err.message} Retry in ${seconds} s.`, { retryAfterSeconds: seconds }, { 'Retry-After': String(seconds) });
    }
    case 'access_code_offer':
      return new HttpProblem(409, 'access-code-offer', 'Access-code offer', err.message);
    case 'code_not_found':
      return notFound(err.message);
    case 'code_already_used':
      return new HttpProblem(409, 'code-already-used', 'Code already used', err.message, err.extra);
    case 'code_expired':
      return new HttpProblem(410, 'code-expired', 'Code expired', err.message, err.extra);
    case 'too_many_failed_redemptions': {
      const seconds = Number(err.extra.retryAfterSeconds ?? 1);
      return new HttpProblem(429, 'too-many-failed-redemptions', 'Too many failed redemptions', `${err.message} Retry in ${seconds} s.`, { retryAfterSeconds: seconds }, { 'Retry-After': String(seconds) });
    }
  }
}

export const unknownRoute: RequestHandler = (req, _res, next) => {
  next(notFound(`No route for ${req.method} ${req.path}.`));
};

/**
 * Placed before routing: a path whose percent-encoding does not decode (`%ZZ`, `%`, a cut
 * UTF-8 sequence) names nothing. Left to the router, decoding its parameters would throw.
 */
export const rejectMalformedPath: RequestHandler = (req, _res, next) => {
  try {
    decodeURIComponent(req.path);
  } catch {
    return next(new HttpProblem(400, 'malformed-path', 'Malformed path', 'The request path has an invalid percent-encoding.'));
  }
  next();
};

export const problemHandler: ErrorRequestHandler = (err, req, res, _next) => {
  if (err instanceof HttpProblem) return sendProblem(res, err);
  if (err instanceof LedgerError) return sendProblem(res, fromLedgerError(err));
  // body-parser errors carry a `type` and a `status`.
  const type = (err as { type?: string }).type;
  if (type === 'entity.parse.failed') {
    return sendProblem(res, new HttpProblem(400, 'malformed-json', 'Malformed JSON', 'The request body is not valid JSON.'));
  }
  if (type === 'entity.too.large') {
    return sendProblem(res, new HttpProblem(413, 'body-too-large', 'Request body too large', 'The request body exceeds the size limit.'));
  }
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
    return sendProblem(res, new HttpProblem(415, 'unsupported-encoding', 'Unsupported encoding', 'Send the body as UTF-8 JSON, without Content-Encoding.'));
  }
  if (type === 'entity.verify.failed') {
    return sendProblem(res, new HttpProblem(400, 'malformed-utf8', 'Malformed UTF-8', 'The request body is not valid UTF-8.'));
  }
  // Any other error that says the client caused it (a 4xx `status`, as the body parser and the
  // router set it) is that client's 4xx, never our 500; its message is not passed on.
  const status = (err as { status?: unknown }).status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return sendProblem(res, new HttpProblem(status, 'bad-request', 'Bad request', 'The request could not be read.'));
  }
  req.log?.error({ err }, 'unhandled error');
  sendProblem(res, new HttpProblem(500, 'internal', 'Internal Server Error', 'An unexpected error occurred; nothing was changed.'));
};
