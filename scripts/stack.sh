#!/usr/bin/env bash
# Brings up the whole local stack on this machine, ready to take a SIPp call:
#   database (the local PostgreSQL if it answers, else embedded PGlite under ./data),
#   Asterisk 22 (Debian sid chroot, scripts/asterisk.sh), then the IVR and the API in the
#   foreground (Ctrl-C stops them; `bash scripts/asterisk.sh stop` stops Asterisk).
# Then, in another terminal: npx tsx scripts/test-call.ts 0612345678
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/host-packages.sh
bash scripts/node-deps.sh

export ADMIN_TOKEN="${ADMIN_TOKEN:-dev-admin-token-change-me}"
export PORT="${PORT:-3000}"
export DEMO="${DEMO:-true}"   # demo merchant site under /demo (web/widget.js in action)
# Local webhook receivers (http://127.0.0.1:…) are refused in production; allow them here.
export WEBHOOK_ALLOW_PRIVATE_NETWORKS="${WEBHOOK_ALLOW_PRIVATE_NETWORKS:-true}"
if [ -z "${DATABASE_URL:-}" ] && psql "postgres://postgres@127.0.0.1:5432/postgres" -Atqc 'select 1' >/dev/null 2>&1; then
  if [ "$(psql "postgres://postgres@127.0.0.1:5432/postgres" -Atqc "select 1 from pg_database where datname = 'sanscode'")" != 1 ]; then
    psql "postgres://postgres@127.0.0.1:5432/postgres" -qc 'create database sanscode'
  fi
  export DATABASE_URL="postgres://postgres@127.0.0.1:5432/sanscode"
fi
echo "stack: database ${DATABASE_URL:-embedded PGlite in ${DATA_DIR:-./data/pglite}}"

bash scripts/asterisk.sh start

echo "stack: API on http://127.0.0.1:$PORT (admin token: \$ADMIN_TOKEN), IVR on ARI app sanscode"
echo "stack: demo merchant site: http://127.0.0.1:$PORT/demo"
echo "stack: place a test call from another terminal: npx tsx scripts/test-call.ts 0612345678"
exec npx tsx bin/sanscode.ts all
