#!/usr/bin/env bash
# Makes sure the PostgreSQL server named by DATABASE_URL answers. On this project's machines
# PostgreSQL is a Debian cluster on 127.0.0.1:5432 with trust auth; if it is down, start it.
#   scripts/postgres.sh ensure
set -euo pipefail
url="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"

answers() { psql "$url" -Atqc 'select 1' >/dev/null 2>&1; }

answers && exit 0
if command -v pg_ctlcluster >/dev/null 2>&1; then
  for version in $(ls /etc/postgresql 2>/dev/null); do
    echo "postgres: starting cluster $version/main"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  done
  for _ in $(seq 1 30); do answers && exit 0; sleep 1; done
fi
echo "postgres: no PostgreSQL answers at $url (set DATABASE_URL to a server you can reach)" >&2
exit 1
