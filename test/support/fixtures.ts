import type { Database } from '../../db/client.js';
import { createMerchant, createOffer, type NewOffer } from '../../db/ledger/index.js';

export async function provision(db: Database, offer: Partial<Omit<NewOffer, 'merchantId'>> = {}, merchantName = 'Test shop') {
  const merchant = await createMerchant(db, merchantName);
  const created = await createOffer(db, {
    merchantId: merchant.id,
    name: 'Article',
    mode: 'caller_id',
    callsRequired: 1,
    minCallSeconds: 0,
    numbers: ['+33899123456'],
    purchaseTtlSeconds: 600,
    language: 'fr',
    ...offer,
  });
  return { merchant, offer: created };
}
