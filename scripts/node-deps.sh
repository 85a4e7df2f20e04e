#!/usr/bin/env bash
# Installs the npm dependencies from the lock file when node_modules is missing or older
# than package-lock.json. Quiet when there is nothing to do.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "node-deps: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
