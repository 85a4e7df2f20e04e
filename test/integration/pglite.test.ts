// Smoke test of the embedded-database mode (no DATABASE_URL): migrations, a purchase, a
// counted call, and the data still there after reopening the folder.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../db/client.js';
import { createPurchase, getPurchase } from '../../db/ledger/index.js';
import { defaultPurchaseLimits } from '../../domain/index.js';
import { simulateCall } from '../support/calls.js';
import { provision } from '../support/fixtures.js';

const dir = mkdtempSync(path.join(tmpdir(), 'sanscode-pglite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('embedded PGlite mode', () => {
  it('runs the whole ledger and keeps data on disk', async () => {
    const first = await openDatabase({ dataDir: dir });
    expect(first.kind).toBe('pglite');
    const { merchant, offer } = await provision(first.db);
    // With the creation limits and a buyer address, as the API creates them (advisory locks, keyed hash).
    const p = await createPurchase(first.db, merchant.id, { offerId: offer.id, callerNumber: '+33612345678', clientIp: '192.0.2.1' }, { limits: defaultPurchaseLimits });
    const { admission, count } = await simulateCall(first.db, { dialed: '+33899123456', caller: '+33612345678' });
    expect(admission.action).toBe('answer');
    expect(count).toMatchObject({ counted: true, completed: true });
    await first.close();

    const again = await openDatabase({ dataDir: dir });
    expect(await getPurchase(again.db, merchant.id, p.id)).toMatchObject({ status: 'completed', callsCounted: 1 });
    await again.close();
  });
});
