#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what is missing (host packages, npm
# dependencies, the Asterisk root on first run), makes sure PostgreSQL answers, then runs
# vitest: unit, integration against PostgreSQL, end to end with SIPp through a real Asterisk.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
bash scripts/host-packages.sh chromium
bash scripts/node-deps.sh
bash scripts/postgres.sh
bash scripts/asterisk.sh build
npx tsc -p tsconfig.json --noEmit
exec npx vitest run "$@"
