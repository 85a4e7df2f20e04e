#!/usr/bin/env bash
# A whole sanscode cluster on this machine, for tests and demos (npm run cluster):
#
#   Kamailio            127.0.0.1:5060 (udp)    cluster/kamailio.cfg, cluster/dispatcher.list
#   Asterisk node a     SIP 127.0.0.2:5060, ARI http://127.0.0.2:8188, RTP 12000-12999
#   Asterisk node b     SIP 127.0.0.3:5060, ARI http://127.0.0.3:8288, RTP 13000-13999
#   IVR workers         ivr-a1, ivr-a2 (node a), ivr-b1, ivr-b2 (node b): one serves, one stands by
#   API processes       api-1 http://127.0.0.1:3001, api-2 http://127.0.0.1:3002
#   PostgreSQL          CLUSTER_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/sanscode_cluster)
#
# Both Asterisk nodes run from the root of scripts/asterisk.sh (Debian sid chroot), each with
# its own configuration (cluster/render-node-conf.sh), run, spool, log and database
# directories. All traffic stays on the loopback. The single-node Asterisk of
# scripts/asterisk.sh also takes 127.0.0.1:5060: this script refuses to start while anything
# listens there.
#
# Everything it starts runs in the background; `stop` stops it all (by recorded pid).
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/cluster.sh COMMAND [ARGS]      (npm run cluster -- COMMAND)

  start                 start everything (default command), print what runs where
  stop                  stop everything
  status                what runs, the dispatcher's view of the nodes, who serves each node
  asterisk-start NODE   start (or restart) one Asterisk node (a or b)
  asterisk-stop NODE    stop one Asterisk node in order
  kill NAME             kill -9 one process: asterisk-a, asterisk-b, kamailio, ivr-a1, ..., api-1, ...
  proc-start NAME       start one IVR worker or API process again (ivr-a1, ..., api-2)
  pid NAME              print the pid of a running process
  rx NODE "CLI CMD"     Asterisk CLI command on one node
  kamcmd ARGS...        Kamailio RPC (e.g. kamcmd dispatcher.list)

Environment: CLUSTER_DATABASE_URL, CLUSTER_STATE (pids and logs, default
/var/cache/sanscode/cluster), ADMIN_TOKEN (default dev-admin-token-change-me),
SANSCODE_ASTERISK_ROOT (as scripts/asterisk.sh).
USAGE
}

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="${SANSCODE_ASTERISK_ROOT:-/var/cache/sanscode/asterisk-root}"
ROOT="${ROOT%/}"
STATE="${CLUSTER_STATE:-/var/cache/sanscode/cluster}"
DB_URL="${CLUSTER_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/sanscode_cluster}"
ADMIN_TOKEN="${ADMIN_TOKEN:-dev-admin-token-change-me}"
ARI_USER="${ARI_USERNAME:-sanscode}"
ARI_PASS="${ARI_PASSWORD:-sanscode}"
KAMAILIO_SIP="127.0.0.1:5060"
CTL_SOCKET="unix:$STATE/run/kamailio_ctl"

NODES=(a b)
declare -A NODE_IP=([a]=127.0.0.2 [b]=127.0.0.3)
declare -A NODE_HTTP_PORT=([a]=8188 [b]=8288)
declare -A NODE_RTP=([a]=12000-12999 [b]=13000-13999)
WORKERS=(ivr-a1 ivr-a2 ivr-b1 ivr-b2)
declare -A API_PORT=([api-1]=3001 [api-2]=3002)
# IVR workers' /healthz + /readyz (HEALTH_PORT); their metrics are on this + 6000.
declare -A SIDE_PORT=([ivr-a1]=3101 [ivr-a2]=3102 [ivr-b1]=3103 [ivr-b2]=3104)
APIS=(api-1 api-2)

log() { echo "cluster: $*"; }
die() { echo "cluster: ERROR: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (chroot, mount)"
mkdir -p "$STATE/pids" "$STATE/logs" "$STATE/run"

node_etc() { echo "/etc/sanscode-cluster/$1"; }          # inside the root
node_conf() { echo "$(node_etc "$1")/asterisk.conf"; }   # inside the root
node_ari() { echo "http://${NODE_IP[$1]}:${NODE_HTTP_PORT[$1]}"; }

# --- pids -------------------------------------------------------------------------------------

pidfile() { echo "$STATE/pids/$1.pid"; }

# The recorded pid of NAME if that process still runs the expected program.
running_pid() {
  local name="$1" pid comm
  [ -f "$(pidfile "$name")" ] || return 1
  pid="$(cat "$(pidfile "$name")")"
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  # A killed process stays a zombie until PID 1 reaps it: it no longer runs.
  [ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
  comm="$(cat "/proc/$pid/comm" 2>/dev/null || true)"
  case "$name" in
    asterisk-*) [ "$comm" = asterisk ] ;;
    kamailio) [ "$comm" = kamailio ] ;;
    *) [ "$comm" = node ] || [ "$comm" = MainThread ] ;;
  esac && echo "$pid"
}

# Stops NAME: TERM, then KILL after $2 seconds.
stop_pid() {
  local name="$1" grace="${2:-10}" pid i
  if pid="$(running_pid "$name")"; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 $((grace * 5))); do [ -d "/proc/$pid" ] || break; sleep 0.2; done
    if [ -d "/proc/$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; sleep 0.2; fi
    log "stopped $name (pid $pid)"
  fi
  rm -f "$(pidfile "$name")"
}

# --- Asterisk nodes ---------------------------------------------------------------------------

render_node() {
  local node="$1"
  NODE="$node" NODE_SIP="${NODE_IP[$node]}:5060" NODE_HTTP="${NODE_IP[$node]}:${NODE_HTTP_PORT[$node]}" \
    NODE_RTP="${NODE_RTP[$node]}" NODE_ETC="$(node_etc "$node")" NODE_OWN_DIRS=1 \
    bash "$REPO/cluster/render-node-conf.sh" "$ROOT$(node_etc "$node")"
  chroot "$ROOT" sh -c "mkdir -p /var/run/asterisk-$node /var/spool/asterisk-$node /var/log/asterisk-$node /var/lib/asterisk-$node /var/cache/asterisk-$node \
    && chown -R asterisk:asterisk /var/run/asterisk-$node /var/spool/asterisk-$node /var/log/asterisk-$node /var/lib/asterisk-$node /var/cache/asterisk-$node"
}

node_rx() { chroot "$ROOT" asterisk -C "$(node_conf "$1")" -rx "$2"; }

ari_ready() { curl -fsS -m 2 -u "$ARI_USER:$ARI_PASS" "$(node_ari "$1")/ari/asterisk/info" >/dev/null 2>&1; }

asterisk_start() {
  local node="$1" i
  [ -n "${NODE_IP[$node]:-}" ] || die "unknown node '$node' (a or b)"
  if running_pid "asterisk-$node" >/dev/null; then log "asterisk-$node already runs"; return 0; fi
  render_node "$node"
  if ! mountpoint -q "$ROOT/proc"; then mount -t proc proc "$ROOT/proc"; fi
  echo "=== start $(date -Is)" >>"$STATE/logs/asterisk-$node.log"
  # setsid: out of the caller's process group (Ctrl-C of npm run cluster does not reach it);
  # chroot execs asterisk, so $! is Asterisk's own pid.
  setsid chroot "$ROOT" asterisk -C "$(node_conf "$node")" -f -U asterisk -G asterisk \
    </dev/null >>"$STATE/logs/asterisk-$node.log" 2>&1 8>&- 9>&- &
  echo $! >"$(pidfile "asterisk-$node")"
  for i in $(seq 1 240); do
    ari_ready "$node" && { log "asterisk-$node ready (pid $(cat "$(pidfile "asterisk-$node")"))"; return 0; }
    running_pid "asterisk-$node" >/dev/null || break
    sleep 0.25
  done
  tail -n 30 "$STATE/logs/asterisk-$node.log" >&2
  die "asterisk-$node did not start (log: $STATE/logs/asterisk-$node.log)"
}

asterisk_stop() {
  local node="$1" pid i
  if pid="$(running_pid "asterisk-$node")"; then
    timeout 10 chroot "$ROOT" asterisk -C "$(node_conf "$node")" -rx "core stop now" >/dev/null 2>&1 || true
    for i in $(seq 1 50); do [ -d "/proc/$pid" ] || break; sleep 0.2; done
  fi
  stop_pid "asterisk-$node" 5
}

# --- Kamailio ---------------------------------------------------------------------------------

sip_port_taken() {
  ss -Hlun 2>/dev/null | awk '{ print $4 }' | grep -qE '^(127\.0\.0\.1|0\.0\.0\.0|\*|\[::\]):5060$'
}

kamailio_start() {
  local i
  if running_pid kamailio >/dev/null; then log "kamailio already runs"; return 0; fi
  echo "=== start $(date -Is)" >>"$STATE/logs/kamailio.log"
  setsid kamailio -f "$REPO/cluster/kamailio.cfg" -DD -E -Y "$STATE/run" \
    -A "DISPATCHER_LIST=\"$REPO/cluster/dispatcher.list\"" -A "CTL_SOCKET=\"$CTL_SOCKET\"" \
    </dev/null >>"$STATE/logs/kamailio.log" 2>&1 8>&- &
  echo $! >"$(pidfile kamailio)"
  for i in $(seq 1 40); do
    if kamcmd -s "$CTL_SOCKET" core.version >/dev/null 2>&1; then log "kamailio ready (pid $(cat "$(pidfile kamailio)"))"; return 0; fi
    running_pid kamailio >/dev/null || break
    sleep 0.25
  done
  tail -n 30 "$STATE/logs/kamailio.log" >&2
  die "kamailio did not start (log: $STATE/logs/kamailio.log)"
}

# --- IVR workers and API processes ------------------------------------------------------------

proc_start() {
  local name="$1" role env=()
  if running_pid "$name" >/dev/null; then log "$name already runs"; return 0; fi
  case "$name" in
    ivr-a? | ivr-b?)
      local node="${name:4:1}"
      role=ivr
      # Each worker's own health and metrics ports: several roles share this host.
      env=(IVR_NODE="$node" ARI_URL="$(node_ari "$node")" HEALTH_PORT="${SIDE_PORT[$name]}" METRICS_PORT="$((SIDE_PORT[$name] + 6000))") ;;
    api-?)
      [ -n "${API_PORT[$name]:-}" ] || die "unknown process '$name'"
      role=api
      env=(PORT="${API_PORT[$name]}" HOST=127.0.0.1 METRICS_PORT="$((API_PORT[$name] + 6460))") ;;
    *) die "unknown process '$name'" ;;
  esac
  echo "=== start $(date -Is)" >>"$STATE/logs/$name.log"
  (
    cd "$REPO"
    exec env DATABASE_URL="$DB_URL" ADMIN_TOKEN="$ADMIN_TOKEN" LOG_LEVEL="${LOG_LEVEL:-info}" \
      ARI_USERNAME="$ARI_USER" ARI_PASSWORD="$ARI_PASS" WEBHOOK_ALLOW_PRIVATE_NETWORKS=true "${env[@]}" \
      setsid "$(command -v node)" --import tsx bin/sanscode.ts "$role" </dev/null >>"$STATE/logs/$name.log" 2>&1 8>&-
  ) &
  echo $! >"$(pidfile "$name")"
}

# Who holds each node's IVR lock (db/node-lock.ts), as "node pid" lines.
leaders() {
  psql "$DB_URL" -Atqc "select split_part(a.application_name, ':', 2) || ' ' || split_part(a.application_name, ':', 3)
    from pg_locks l join pg_stat_activity a using (pid)
    where l.locktype = 'advisory' and l.classid = 72150002 and l.objsubid = 2 and l.granted
      and a.application_name like 'sanscode-ivr:%' order by 1" 2>/dev/null || true
}

ensure_database() {
  local name="${DB_URL##*/}" admin="${DB_URL%/*}/postgres"
  name="${name%%\?*}"
  DATABASE_URL="${DB_URL%/*}/postgres" bash "$REPO/scripts/postgres.sh"
  if [ "$(psql "$admin" -Atqc "select 1 from pg_database where datname = '$name'")" != 1 ]; then
    psql "$admin" -qc "create database \"$name\""
  fi
}

wait_ready() {
  local i name node ok
  for i in $(seq 1 240); do
    ok=1
    for name in "${APIS[@]}"; do curl -fsS -m 2 "http://127.0.0.1:${API_PORT[$name]}/healthz" >/dev/null 2>&1 || ok=0; done
    for node in "${NODES[@]}"; do node_rx "$node" "ari show apps" 2>/dev/null | grep -q sanscode || ok=0; done
    [ "$ok" = 1 ] && return 0
    for name in "${WORKERS[@]}" "${APIS[@]}"; do
      running_pid "$name" >/dev/null || { tail -n 20 "$STATE/logs/$name.log" >&2; die "$name exited (log: $STATE/logs/$name.log)"; }
    done
    sleep 0.25
  done
  die "the cluster did not get ready within 60 s (logs: $STATE/logs)"
}

cmd_start() {
  if ! running_pid kamailio >/dev/null && sip_port_taken; then
    die "$KAMAILIO_SIP is taken (the single-node Asterisk? bash scripts/asterisk.sh stop)"
  fi
  bash "$REPO/scripts/host-packages.sh" kamailio
  bash "$REPO/scripts/node-deps.sh"
  bash "$REPO/scripts/asterisk.sh" build
  # Prompts into the root's sounds directory (shared by every node).
  bash "$REPO/scripts/asterisk.sh" install-conf
  ensure_database
  for node in "${NODES[@]}"; do asterisk_start "$node"; done
  kamailio_start
  # The API processes run the migrations (under an advisory lock) before the workers start.
  for name in "${APIS[@]}"; do proc_start "$name"; done
  for name in "${WORKERS[@]}"; do proc_start "$name"; done
  wait_ready
  cmd_status
}

cmd_stop() {
  local name node
  for name in "${WORKERS[@]}" "${APIS[@]}"; do stop_pid "$name" 12; done
  stop_pid kamailio 5
  for node in "${NODES[@]}"; do asterisk_stop "$node"; done
  # /proc of the root stays mounted while the single-node Asterisk runs from it.
  if mountpoint -q "$ROOT/proc" && ! bash "$REPO/scripts/asterisk.sh" status >/dev/null 2>&1; then
    umount "$ROOT/proc" 2>/dev/null || umount -l "$ROOT/proc"
  fi
  log "stopped"
}

cmd_status() {
  local name node pid what
  local -A serving=()
  while read -r node pid; do [ -n "${node:-}" ] && serving[$node]="$pid"; done < <(leaders)
  printf '%-12s %-8s %s\n' PROCESS PID WHAT
  row() { if pid="$(running_pid "$1")"; then printf '%-12s %-8s %s\n' "$1" "$pid" "$2"; else printf '%-12s %-8s %s\n' "$1" '-' "$2 (not running)"; fi; }
  row kamailio "SIP udp:$KAMAILIO_SIP -> nodes of cluster/dispatcher.list"
  for node in "${NODES[@]}"; do
    row "asterisk-$node" "SIP ${NODE_IP[$node]}:5060, ARI $(node_ari "$node"), RTP ${NODE_RTP[$node]}, log $STATE/logs/asterisk-$node.log"
  done
  for name in "${WORKERS[@]}"; do
    node="${name:4:1}" what="standby"
    pid="$(running_pid "$name" || true)"
    [ -n "$pid" ] && [ "${serving[$node]:-}" = "$pid" ] && what="ACTIVE"
    row "$name" "IVR of node $node ($what), log $STATE/logs/$name.log"
  done
  for name in "${APIS[@]}"; do row "$name" "API http://127.0.0.1:${API_PORT[$name]}, log $STATE/logs/$name.log"; done
  echo "database: $DB_URL"
  if running_pid kamailio >/dev/null; then
    echo "dispatcher (FLAGS: A active, I inactive, P probing):"
    kamcmd -s "$CTL_SOCKET" dispatcher.list 2>/dev/null | grep -E 'URI|FLAGS' | paste - - | awk '{ print "  " $2 "  " $4 }'
  fi
  echo "calls go to Kamailio, sip:<number>@$KAMAILIO_SIP; npm run test:cluster places some (README, Scale-out)"
}

cmd="${1:-start}"
[ $# -gt 0 ] && shift
case "$cmd" in
  start) exec 8>"$STATE/cluster.lock"; flock -w 300 8 || die "another cluster.sh holds $STATE/cluster.lock"; cmd_start ;;
  stop) exec 8>"$STATE/cluster.lock"; flock -w 300 8 || die "another cluster.sh holds $STATE/cluster.lock"; cmd_stop ;;
  status) cmd_status ;;
  asterisk-start) asterisk_start "${1:?node}" ;;
  asterisk-stop) asterisk_stop "${1:?node}" ;;
  kill)
    pid="$(running_pid "${1:?name}")" || die "${1} does not run"
    kill -KILL "$pid"
    log "killed ${1} (pid $pid) with SIGKILL" ;;
  proc-start) proc_start "${1:?name}" ;;
  pid) running_pid "${1:?name}" || exit 1 ;;
  rx) node_rx "${1:?node}" "${2:?CLI command}" ;;
  kamcmd) kamcmd -s "$CTL_SOCKET" "$@" ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
