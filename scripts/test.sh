#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what is missing (host packages, npm
# dependencies, the Asterisk root on first run), makes sure PostgreSQL answers, then runs
# vitest: unit, integration against PostgreSQL, end to end with SIPp through a real Asterisk.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
# A run leaves nothing running behind it, however it ends (failure, Ctrl-C): Asterisk is
# stopped afterwards unless it was running before (vitest's global teardown does the same on
# a normal end; this covers an interrupted vitest).
asterisk_was_running=false
if bash scripts/asterisk.sh status >/dev/null 2>&1; then asterisk_was_running=true; fi
leave_nothing_running() {
  if [ "$asterisk_was_running" = false ]; then bash scripts/asterisk.sh stop >/dev/null 2>&1 || true; fi
}
trap leave_nothing_running EXIT
bash scripts/host-packages.sh chromium
bash scripts/node-deps.sh
bash scripts/postgres.sh
bash scripts/asterisk.sh build
npx tsc -p tsconfig.json --noEmit
# The architecture's import directions (.dependency-cruiser.cjs): domain ← ledger ← shells ← bin.
npm run --silent check:imports
npx vitest run "$@"
