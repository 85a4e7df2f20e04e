// The demo merchant site (DEMO=true, set by `npm run stack`): a page selling one premium
// article, and the small backend a real merchant would run. The backend holds the demo
// merchant's API key and calls sanscode's HTTP API like any merchant; the page only ever gets
// a client token, which it hands to the widget (/widget.js).
//   GET  /demo                      the page (demo/page.html)
//   POST /demo/api/purchases        {mode: "caller_id"|"dynamic_number", phone?} → {clientToken, …}
//   GET  /demo/api/purchases/{id}   the purchase as the merchant's server sees it (unlock check)
// The demo merchant and its two offers are created through the ledger on first use, and
// remembered in the secrets table (row demo_state) so that a restart reuses them: a pool number
// cannot belong to two offers.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import express, { Router, type Request, type Response } from 'express';
import { eq, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Database } from '../db/client.js';
import { createMerchant, createOffer } from '../db/ledger/index.js';
import { secrets } from '../db/schema.js';

export interface DemoState {
  merchantId: string;
  apiKey: string;
  callerIdOfferId: string;
  dynamicOfferId: string;
}

const STATE_ROW = 'demo_state';
export const DEMO_CALLER_ID_NUMBER = '+33899123456';
export const DEMO_POOL = ['+33899200001', '+33899200002', '+33899200003', '+33899200004', '+33899200005'];

/** The demo merchant and offers, created once per database (several processes may race). */
export async function demoState(db: Database): Promise<DemoState> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${'sanscode:' + STATE_ROW}))`);
    const [row] = await tx.select({ value: secrets.value }).from(secrets).where(eq(secrets.name, STATE_ROW));
    if (row) return JSON.parse(row.value) as DemoState;
    const merchant = await createMerchant(tx, 'Démo sanscode');
    const common = { merchantId: merchant.id, callsRequired: 2, minCallSeconds: 3, language: 'fr' as const, priceLine: "2 appels à 2,99 € TTC l'appel" };
    const callerId = await createOffer(tx, { ...common, name: 'Article premium (numéro de l’appelant)', mode: 'caller_id', numbers: [DEMO_CALLER_ID_NUMBER], purchaseTtlSeconds: 900 });
    const dynamic = await createOffer(tx, {
      ...common,
      name: 'Article premium (numéro réservé)',
      mode: 'dynamic_number',
      numbers: DEMO_POOL,
      holdSeconds: 300,
      maxHoldSeconds: 900,
      quarantineSeconds: 60,
    });
    const state: DemoState = { merchantId: merchant.id, apiKey: merchant.apiKey, callerIdOfferId: callerId.id, dynamicOfferId: dynamic.id };
    await tx.insert(secrets).values({ name: STATE_ROW, value: JSON.stringify(state) });
    return state;
  });
}

const buyBody = z.strictObject({
  mode: z.enum(['caller_id', 'dynamic_number']),
  phone: z.string().trim().max(32).optional(),
});

/** The page, from the source tree or, for a build in dist/, from the repository's demo/. */
const pageFile = ['page.html', '../../demo/page.html'].map((p) => path.resolve(import.meta.dirname, p)).find((p) => existsSync(p));

export function demoRoutes(db: Database, log: Logger): Router {
  const router = Router();
  let state: Promise<DemoState> | null = null;
  const demo = () => {
    state ??= demoState(db).catch((err) => {
      state = null;
      throw err;
    });
    return state;
  };

  /**
   * sanscode's own HTTP API, reached on the address this request came in on (never on the Host
   * header, which the client chooses: the key must not be sent elsewhere).
   */
  async function sanscode(req: Request, method: string, route: string, body?: unknown) {
    const { apiKey } = await demo();
    const addr = req.socket.localAddress ?? '127.0.0.1';
    const base = `http://${addr.includes(':') ? `[${addr}]` : addr}:${req.socket.localPort}`;
    const res = await fetch(base + route, {
      method,
      headers: { authorization: `Bearer ${apiKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, headers: res.headers, body: (await res.json().catch(() => ({}))) as Record<string, any> };
  }

  const fail = (res: Response, status: number, error: string, extra: Record<string, unknown> = {}) => {
    res.status(status).json({ error, ...extra });
  };

  router.get('/', (_req, res) => {
    if (!pageFile) return fail(res, 500, 'demo page missing');
    res.set('Cache-Control', 'no-store').type('html').send(readFileSync(pageFile, 'utf8'));
  });

  router.post('/api/purchases', express.json({ limit: '2kb' }), async (req, res) => {
    const body = buyBody.safeParse(req.body);
    if (!body.success) return fail(res, 400, 'Requête invalide.');
    const { mode, phone } = body.data;
    if (mode === 'caller_id' && !phone) return fail(res, 400, 'Indiquez votre numéro de téléphone.');
    const s = await demo();
    const offerId = mode === 'caller_id' ? s.callerIdOfferId : s.dynamicOfferId;
    let created = await sanscode(req, 'POST', '/v1/purchases', { offerId, reference: 'demo-article', ...(mode === 'caller_id' ? { callerNumber: phone } : {}) });
    let resumed = false;
    if (created.status === 409 && typeof created.body.pendingPurchaseId === 'string') {
      // This buyer already has a purchase going for this article: carry on with it.
      const id = created.body.pendingPurchaseId;
      const [p, token] = await Promise.all([sanscode(req, 'GET', `/v1/purchases/${id}`), sanscode(req, 'POST', `/v1/purchases/${id}/client-token`)]);
      if (p.status !== 200 || token.status !== 200) return fail(res, 502, 'Impossible de reprendre l’achat en cours.');
      created = { ...p, body: { ...p.body, clientToken: token.body.clientToken } };
      resumed = true;
    }
    const p = created.body;
    if (created.status === 201 || resumed) {
      log.info({ purchaseId: p.id, mode, resumed }, 'demo purchase');
      return res.status(resumed ? 200 : 201).json({
        purchaseId: p.id,
        clientToken: p.clientToken,
        mode: p.mode,
        numberToCall: p.numberToCall,
        callerNumber: p.callerNumber,
        resumed,
      });
    }
    if (created.status === 503) {
      const retryAfter = created.headers.get('retry-after') ?? String(p.retryAfterSeconds ?? 60);
      res.set('Retry-After', retryAfter);
      return fail(res, 503, `Tous les numéros sont occupés : réessayez dans ${retryAfter} s.`, { retryAfterSeconds: Number(retryAfter) });
    }
    if (created.status === 422) return fail(res, 422, 'Ce numéro de téléphone n’est pas valide.');
    if (created.status === 409) return fail(res, 409, 'Ce numéro a déjà un achat en cours chez un autre marchand : réessayez quand il sera terminé.');
    log.warn({ status: created.status, type: p.type }, 'demo purchase refused');
    return fail(res, created.status >= 500 ? 502 : created.status, p.detail ?? 'Achat impossible.');
  });

  router.get('/api/purchases/:id', async (req, res) => {
    if (!z.uuid().safeParse(req.params.id).success) return fail(res, 404, 'Achat inconnu.');
    const p = await sanscode(req, 'GET', `/v1/purchases/${req.params.id}`);
    if (p.status !== 200) return fail(res, p.status === 404 ? 404 : 502, 'Achat inconnu.');
    res.set('Cache-Control', 'no-store').json({ purchaseId: p.body.id, status: p.body.status, callsCounted: p.body.callsCounted, callsRequired: p.body.callsRequired });
  });

  return router;
}
