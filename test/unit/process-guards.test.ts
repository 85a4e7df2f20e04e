// The process-level policy (bin/process-guards.ts), in a real child process: an unhandled
// rejection is logged at fatal with its channelId and counted, and the process lives on; an
// uncaught exception is logged at fatal and leads to an orderly exit with status 1.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const child = path.resolve(import.meta.dirname, '../support/process-guards-child.ts');

function run(mode: string) {
  const res = spawnSync(process.execPath, ['--import', 'tsx', child, mode], { encoding: 'utf8', timeout: 60_000 });
  const lines = res.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: number; msg: string; channelId?: string; unhandledRejections?: number });
  return { status: res.status, lines };
}

// Each case starts a tsx child: allow for a loaded machine.
describe('process guards', { timeout: 90_000 }, () => {
  it('logs unhandled rejections at fatal with the channelId, counts them, and keeps running', () => {
    const { status, lines } = run('rejections');
    const fatal = lines.filter((l) => l.level === 60);
    expect(fatal.map((l) => [l.channelId, l.unhandledRejections])).toEqual([
      ['1795918163.0', 1],
      [undefined, 2],
    ]);
    expect(lines.at(-1)?.msg).toBe('still alive');
    expect(status).toBe(0);
  });

  it('logs an uncaught exception at fatal, then shuts down in order with status 1', () => {
    const { status, lines } = run('exception');
    expect(lines.map((l) => [l.level, l.msg, l.channelId])).toEqual([
      [60, 'uncaught exception: shutting down', '1795918163.1'],
      [30, 'orderly shutdown', undefined],
    ]);
    expect(status).toBe(1);
  });
});
