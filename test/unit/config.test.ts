import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';

describe('configuration', () => {
  it('reads TRUST_PROXY as Express takes it: false by default, true, a hop count, or addresses', () => {
    expect(loadConfig({}).TRUST_PROXY).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'false' }).TRUST_PROXY).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'true' }).TRUST_PROXY).toBe(true);
    expect(loadConfig({ TRUST_PROXY: '1' }).TRUST_PROXY).toBe(1);
    expect(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8' }).TRUST_PROXY).toBe('loopback, 10.0.0.0/8');
  });
  it('bounds live streams per purchase and per process', () => {
    expect(loadConfig({})).toMatchObject({ MAX_STREAMS_PER_PURCHASE: 5, MAX_STREAMS_PER_PROCESS: 1000 });
    expect(loadConfig({ MAX_STREAMS_PER_PURCHASE: '2', MAX_STREAMS_PER_PROCESS: '50' })).toMatchObject({ MAX_STREAMS_PER_PURCHASE: 2, MAX_STREAMS_PER_PROCESS: 50 });
    expect(() => loadConfig({ MAX_STREAMS_PER_PURCHASE: '0' })).toThrow(/MAX_STREAMS_PER_PURCHASE/);
  });
});
