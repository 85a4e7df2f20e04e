// The operator commands of `sanscode`: provisioning, inspection, credits, reports. They work
// through the ledger on the database the service uses (DATABASE_URL, or the embedded one under
// DATA_DIR, which only one process at a time can open: stop the service first then).
import { userInfo } from 'node:os';
import { loadConfig } from '../../core/config.js';
import { openDatabase, type DbHandle } from '../../db/client.js';
import { LedgerError } from '../../db/ledger/index.js';
import { callsCommand } from './calls.js';
import { creditCommand } from './credit.js';
import { merchantCommand } from './merchant.js';
import { numberCommand } from './number.js';
import { offerCommand } from './offer.js';
import { poolCommand } from './pool.js';
import { purchaseCommand } from './purchase.js';
import { reconcileCommand } from './reconcile.js';
import { reportCommand } from './report.js';
import { Refusal, UsageError, type CliContext, type Command } from './shared.js';
import { webhookDeliveriesCommand } from './webhooks.js';

const commands: Command[] = [
  merchantCommand,
  offerCommand,
  numberCommand,
  poolCommand,
  callsCommand,
  creditCommand,
  purchaseCommand,
  webhookDeliveriesCommand,
  reportCommand,
  reconcileCommand,
];

const HELP_WORDS = ['help', '--help', '-h'];

/** Whether `sanscode <name>` is an operator command (as opposed to migrate|api|ivr|all). */
export function isCliCommand(name: string): boolean {
  return HELP_WORDS.includes(name) || commands.some((c) => c.name === name);
}

function overview(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'usage: sanscode <command> [options]        (sanscode <command> --help for its options)',
    '',
    'services:',
    '  migrate'.padEnd(width + 4) + '  apply database migrations and exit',
    '  api'.padEnd(width + 4) + '  HTTP API (and webhook sender)',
    '  ivr'.padEnd(width + 4) + '  IVR worker (one per Asterisk node)',
    '  all'.padEnd(width + 4) + '  both in one process',
    '',
    'operator commands (table output, or --json):',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'They use the service\'s database: DATABASE_URL, else the embedded one under DATA_DIR (which one',
    'process at a time may open: stop the service first). Times are UTC unless they carry an offset.',
    'Exit codes: 0 done, 2 bad input or refused (one-line message on stderr), 1 anything else.',
  ].join('\n');
}

/** Runs one operator command; returns the process exit code. */
export async function runCli(argv: string[]): Promise<number> {
  const [name = 'help', ...rest] = argv;
  const out = (text: string) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  if (HELP_WORDS.includes(name)) {
    out(overview());
    return 0;
  }
  const command = commands.find((c) => c.name === name)!;
  let handle: DbHandle | undefined;
  try {
    const config = loadConfig();
    const ctx: CliContext = {
      region: config.DEFAULT_REGION,
      defaultLanguage: config.DEFAULT_LANGUAGE,
      user: operatorName(),
      out,
      async db() {
        handle ??= await openDatabase({ databaseUrl: config.DATABASE_URL, dataDir: config.DATA_DIR, poolSize: 2 });
        return handle.db;
      },
    };
    await command.run(rest, ctx);
    return 0;
  } catch (err) {
    const bad = err instanceof UsageError || err instanceof Refusal || err instanceof LedgerError;
    const message = (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, '; ');
    process.stderr.write(`sanscode ${name}: ${message}${err instanceof UsageError ? ` (sanscode ${name} --help)` : ''}\n`);
    return bad || (err instanceof Error && err.message.startsWith('Invalid configuration')) ? 2 : 1;
  } finally {
    await handle?.close();
  }
}

/** The OS user, as the audit trail of credits records it. */
function operatorName(): string {
  try {
    return userInfo().username;
  } catch {
    // No passwd entry for this uid (some containers).
    return process.env.USER ?? `uid-${process.getuid?.() ?? 'unknown'}`;
  }
}
