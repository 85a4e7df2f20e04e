// Client tokens: what a merchant's page gives the buyer's browser instead of the API key.
// A token names one purchase and an expiry, signed with HMAC-SHA256 under a key all API
// processes share (the ledger's sharedSecret). It grants reading that purchase and its event
// stream only.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Database } from '../db/client.js';
import { sharedSecret } from '../db/ledger/index.js';

export interface ClientClaims {
  purchaseId: string;
  merchantId: string;
  /** Expiry, unix seconds. */
  exp: number;
}

/** Tokens live until the purchase's own end plus this margin, and never beyond MAX_LIFE. */
const MARGIN_SECONDS = 10 * 60;
const MAX_LIFE_SECONDS = 24 * 3600;

export class ClientTokens {
  private key: Promise<Buffer> | null = null;
  constructor(private readonly db: Database) {}

  private secret(): Promise<Buffer> {
    this.key ??= sharedSecret(this.db, 'client_token_key').catch((err) => {
      this.key = null;
      throw err;
    });
    return this.key;
  }

  async issue(purchaseId: string, merchantId: string, purchaseExpiresAt: string): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const exp = Math.min(Math.floor(new Date(purchaseExpiresAt).getTime() / 1000) + MARGIN_SECONDS, now + MAX_LIFE_SECONDS);
    const payload = Buffer.from(JSON.stringify({ p: purchaseId, m: merchantId, e: exp })).toString('base64url');
    return `ct_${payload}.${this.mac(await this.secret(), payload)}`;
  }

  /** The claims of a valid, unexpired token; null otherwise. */
  async verify(token: string): Promise<ClientClaims | null> {
    const m = /^ct_([A-Za-z0-9_-]{10,400})\.([A-Za-z0-9_-]{43})$/.exec(token);
    if (!m) return null;
    const [, payload, mac] = m as unknown as [string, string, string];
    const expected = Buffer.from(this.mac(await this.secret(), payload));
    if (!timingSafeEqual(expected, Buffer.from(mac))) return null;
    try {
      const { p, m: merchantId, e } = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
      if (typeof p !== 'string' || typeof merchantId !== 'string' || typeof e !== 'number') return null;
      if (e <= Date.now() / 1000) return null;
      return { purchaseId: p, merchantId, exp: e };
    } catch {
      return null;
    }
  }

  private mac(key: Buffer, payload: string): string {
    return createHmac('sha256', key).update(payload).digest('base64url');
  }
}
