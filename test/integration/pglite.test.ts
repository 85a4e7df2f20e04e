// Smoke test of the embedded-database mode (no DATABASE_URL): migrations, a purchase, a
// counted call, and the data still there after reopening the folder.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../db/client.js';
import { admitCall, countCall, createPurchase, getPurchase, markAnswered } from '../../db/ledger/index.js';
import { provision } from '../support/fixtures.js';

const dir = mkdtempSync(path.join(tmpdir(), 'sanscode-pglite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('embedded PGlite mode', () => {
  it('runs the whole ledger and keeps data on disk', async () => {
    const first = await openDatabase({ dataDir: dir });
    expect(first.kind).toBe('pglite');
    const { merchant, offer } = await provision(first.db);
    const p = await createPurchase(first.db, merchant.id, { offerId: offer.id, callerNumber: '+33612345678' });
    const facts = { channelId: 'c1', asteriskId: null, dialedRaw: '0899123456', dialed: '+33899123456', callerRaw: '0612345678', caller: '+33612345678' };
    const { admission } = await admitCall(first.db, facts, { maxCallSeconds: 3600, defaultLanguage: 'fr' });
    expect(admission.action).toBe('answer');
    await markAnswered(first.db, 'c1');
    expect(await countCall(first.db, 'c1')).toMatchObject({ counted: true, completed: true });
    await first.close();

    const again = await openDatabase({ dataDir: dir });
    expect(await getPurchase(again.db, merchant.id, p.id)).toMatchObject({ status: 'completed', callsCounted: 1 });
    await again.close();
  });
});
