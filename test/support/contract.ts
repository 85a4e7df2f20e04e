// Checks a real answer against the API's documentation (api/openapi.ts): its status must be one
// the operation lists, its Content-Type one that status lists, its JSON body must parse with the
// documented schema (strict: an undocumented field fails), and its documented headers must be
// there. test/support/http.ts runs this on every answer, so any integration test that drifts
// from the documentation fails.
import { z } from 'zod';
import type { ZodOpenApiResponseObject } from 'zod-openapi';
import { apiPaths } from '../../api/openapi.js';
import { problemResponse } from '../../api/schemas.js';

export interface Operation {
  method: string;
  /** OpenAPI form: /v1/purchases/{id} */
  template: string;
  responses: Record<string, ZodOpenApiResponseObject>;
}

/** Every documented operation. */
export const documentedOperations: Operation[] = Object.entries(apiPaths).flatMap(([template, item]) =>
  Object.entries(item).map(([method, operation]) => ({ method: method.toUpperCase(), template, responses: operation.responses as Record<string, ZodOpenApiResponseObject> })),
);

const matchers = documentedOperations.map((op) => ({
  op,
  literal: !op.template.includes('{'),
  pattern: new RegExp(`^${op.template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`),
}));

/** The operation answering `method path`; a literal path wins over a template. */
export function operationFor(method: string, path: string): Operation | undefined {
  const found = matchers.filter((m) => m.op.method === method && m.pattern.test(path));
  return (found.find((m) => m.literal) ?? found[0])?.op;
}

/** `METHOD template status` of each answer checked, for tests that want every one covered. */
export const checkedAnswers = new Set<string>();

export interface Answer {
  status: number;
  headers: Headers;
  /** Parsed JSON, or the text when it is not JSON. */
  body: unknown;
}

const isJson = (mediaType: string) => mediaType === 'application/json' || mediaType.endsWith('+json');

function parsed(schema: unknown, value: unknown, what: string): void {
  if (!(schema instanceof z.ZodType)) throw new Error(`${what}: documented without a zod schema`);
  const result = schema.safeParse(value);
  if (!result.success) throw new Error(`${what} drifted from its documentation:\n${z.prettifyError(result.error)}\n${JSON.stringify(value)}`);
}

/** Throws when the answer to `method url` is not what the documentation says. */
export function checkAnswer(method: string, url: string, answer: Answer): void {
  const path = new URL(url, 'http://api.test').pathname;
  // HEAD answers carry no body; the demo site (DEMO=true) is no part of the API.
  if (method === 'HEAD' || path === '/demo' || path.startsWith('/demo/')) return;
  const op = operationFor(method, path);
  const what = `${method} ${path} → ${answer.status}`;
  const mediaType = answer.headers.get('content-type')?.split(';')[0]?.trim() ?? '';
  if (!op) {
    // No route takes this request: the app's 404 (or an earlier refusal), always a problem.
    if (answer.status < 400) throw new Error(`${what}: an operation the documentation does not list`);
    if (mediaType !== 'application/problem+json') throw new Error(`${what}: ${mediaType}, not application/problem+json`);
    parsed(problemResponse, answer.body, what);
    return;
  }
  const documented = op.responses[String(answer.status)];
  if (!documented) throw new Error(`${what}: ${op.method} ${op.template} documents only ${Object.keys(op.responses).join(', ')}`);
  if (documented.headers) {
    const shape = (documented.headers as z.ZodObject).shape;
    const headers = Object.fromEntries(Object.keys(shape).flatMap((name) => (answer.headers.has(name) ? [[name, answer.headers.get(name)]] : [])));
    parsed(documented.headers, headers, `${what} headers`);
  }
  const content = documented.content ?? {};
  if (Object.keys(content).length === 0) {
    if (answer.body !== null && answer.body !== '') throw new Error(`${what}: a body, where the documentation has none`);
  } else {
    const media = content[mediaType];
    if (!media) throw new Error(`${what}: ${mediaType || 'no Content-Type'}, where the documentation has ${Object.keys(content).join(', ')}`);
    if (isJson(mediaType)) parsed(media.schema, answer.body, what);
    if (mediaType === 'application/problem+json' && (answer.body as { status?: unknown }).status !== answer.status) throw new Error(`${what}: the problem's status differs`);
  }
  checkedAnswers.add(`${op.method} ${op.template} ${answer.status}`);
}
