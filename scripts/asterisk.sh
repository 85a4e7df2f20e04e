#!/usr/bin/env bash
# Local Asterisk 22 for development and tests, without Docker.
#
# Debian 12 has no asterisk package, so this script debootstraps a Debian sid
# root that holds Asterisk 22 and runs it under chroot. The root shares the
# host's network: ARI answers on 127.0.0.1:8088 and SIP on 127.0.0.1:5060 as
# configured in asterisk-conf/.
#
# Everything large or stateful lives OUTSIDE the work tree:
#   SANSCODE_ASTERISK_ROOT   the chroot      (default /var/cache/sanscode/asterisk-root)
#   SANSCODE_ASTERISK_STATE  pid, log, lock  (default: the root's parent directory)
#   SANSCODE_DEBIAN_MIRROR   mirror for debootstrap (default: read from the host's
#                            apt sources at run time; never written in the repo)
#   ARI_USERNAME/ARI_PASSWORD  credentials used for the readiness probe
#                            (default sanscode/sanscode, as in asterisk-conf/ari.conf)
#
# Every subcommand is idempotent and may be called repeatedly and concurrently
# (tests, dev scripts): state-changing ones take a lock.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/asterisk.sh COMMAND [ARGS]

  build           debootstrap the Debian sid root with Asterisk 22 (cached; no-op when complete)
  install-conf    copy asterisk-conf/*.conf and the prompts into the root
  start           build + install-conf if needed, start Asterisk, wait for ARI;
                  if already running: re-install conf and reload
  stop            stop Asterisk (core stop now, then its recorded pid), unmount proc
  restart         stop then start
  status          say whether Asterisk runs and ARI answers (exit 0 only if both)
  rx "CLI CMD"    run an Asterisk CLI command (asterisk -rx)
  logs [N]        last N lines (default 100) of the console log and of messages.log

Environment: SANSCODE_ASTERISK_ROOT, SANSCODE_ASTERISK_STATE, SANSCODE_DEBIAN_MIRROR,
ARI_USERNAME, ARI_PASSWORD, SANSCODE_ASTERISK_START_TIMEOUT (seconds, default 60).
USAGE
}

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="${SANSCODE_ASTERISK_ROOT:-/var/cache/sanscode/asterisk-root}"
ROOT="${ROOT%/}"
STATE="${SANSCODE_ASTERISK_STATE:-$(dirname "$ROOT")}"
PIDFILE="$STATE/asterisk.pid"
LOGFILE="$STATE/asterisk.log"
LOCKFILE="$STATE/asterisk.lock"
MARKER="$ROOT/.sanscode-build-complete"
ARI_URL="http://127.0.0.1:8088/ari/asterisk/info"
ARI_USER="${ARI_USERNAME:-sanscode}"
ARI_PASS="${ARI_PASSWORD:-sanscode}"
START_TIMEOUT="${SANSCODE_ASTERISK_START_TIMEOUT:-60}"

# Packages installed in the root. Changing this list invalidates the cached root.
ROOT_PACKAGES="asterisk,asterisk-modules,asterisk-core-sounds-en,asterisk-core-sounds-fr"
# Where Debian's asterisk looks for sounds (astdatadir = /usr/share/asterisk).
SOUNDS_DIR="/usr/share/asterisk/sounds"

log() { echo "asterisk: $*"; }
die() { echo "asterisk: ERROR: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot, mount)"

# Serialise state-changing commands across concurrent callers.
take_lock() {
  mkdir -p "$STATE"
  exec 9>"$LOCKFILE"
  flock -w 600 9 || die "could not take $LOCKFILE"
}

# The Debian mirror the host already uses: first non-security URI in the apt
# sources (deb822 first, then the legacy one-line format).
debian_mirror() {
  if [ -n "${SANSCODE_DEBIAN_MIRROR:-}" ]; then echo "$SANSCODE_DEBIAN_MIRROR"; return; fi
  local uri=""
  if [ -r /etc/apt/sources.list.d/debian.sources ]; then
    uri="$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /-security\/?$/) { print $i; exit } }' \
      /etc/apt/sources.list.d/debian.sources)"
  fi
  if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
    uri="$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { if ($i !~ /-security\/?$/) { print $i; exit } else break } }' \
      /etc/apt/sources.list)"
  fi
  [ -n "$uri" ] || die "no Debian mirror found in the apt sources; set SANSCODE_DEBIAN_MIRROR"
  echo "$uri"
}

# Unmount everything mounted at or below $1 (deepest first).
umount_below() {
  local dir="$1" m
  awk '{ print $2 }' /proc/self/mounts | while read -r m; do
    case "$m" in "$dir" | "$dir"/*) echo "$m" ;; esac
  done | sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
}

build_complete() {
  [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "packages=$ROOT_PACKAGES" ]
}

cmd_build() {
  "$REPO/scripts/host-packages.sh"
  if build_complete; then return 0; fi
  is_running && die "Asterisk runs from an outdated root; run 'stop' first"
  local partial="$ROOT.partial" mirror
  mirror="$(debian_mirror)"
  log "building Debian sid root with Asterisk in $ROOT (a few minutes, ~500 MB)"
  # An interrupted earlier build (or an outdated root) is thrown away and redone.
  for d in "$partial" "$ROOT"; do
    if [ -e "$d" ]; then
      umount_below "$d"
      rm -rf --one-file-system "$d"
    fi
  done
  mkdir -p "$(dirname "$ROOT")"
  if ! debootstrap --variant=minbase --include="$ROOT_PACKAGES" sid "$partial" "$mirror" \
      >"$STATE/debootstrap.log" 2>&1; then
    umount_below "$partial"
    tail -n 30 "$STATE/debootstrap.log" >&2
    die "debootstrap failed (full log: $STATE/debootstrap.log)"
  fi
  umount_below "$partial"
  # Keep the Debian sample configs for reference; install-conf replaces /etc/asterisk.
  if [ -d "$partial/etc/asterisk" ] && [ ! -e "$partial/etc/asterisk.debian" ]; then
    cp -a "$partial/etc/asterisk" "$partial/etc/asterisk.debian"
  fi
  echo "packages=$ROOT_PACKAGES" >"$partial/.sanscode-build-complete"
  mv "$partial" "$ROOT"
  log "root ready: $(chroot "$ROOT" asterisk -V)"
}

cmd_install_conf() {
  build_complete || die "root not built; run 'build' first"
  local etc="$ROOT/etc/asterisk"
  # Replace the Debian sample configs entirely: only our files are read, so no
  # sample context or module config gets loaded by accident. The originals stay
  # in /etc/asterisk.debian inside the root.
  mkdir -p "$etc"
  find "$etc" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
  install -m 0644 "$REPO"/asterisk-conf/*.conf "$etc"/
  # Prompts: sounds/<lang>/sanscode/<name>.wav -> $SOUNDS_DIR/<lang>/sanscode/,
  # where Asterisk looks up "sound:sanscode/<name>" for the channel's language.
  # In Debian, sounds/fr and sounds/en are symlinks (via /etc/alternatives) to
  # the fr_CA_f_June and en_US_f_Allison packs: resolve them inside the root,
  # never on the host.
  local langdir lang dir
  for langdir in "$REPO"/asterisk-conf/sounds/*/; do
    [ -d "$langdir/sanscode" ] || continue
    lang="$(basename "$langdir")"
    chroot "$ROOT" mkdir -p "$SOUNDS_DIR/$lang"
    dir="$ROOT$(chroot "$ROOT" readlink -f "$SOUNDS_DIR/$lang")/sanscode"
    rm -rf "$dir"
    mkdir -p "$dir"
    install -m 0644 "$langdir"/sanscode/*.wav "$dir/"
  done
}

# The recorded pid, if that process is alive and is an asterisk.
running_pid() {
  local pid
  [ -f "$PIDFILE" ] || return 1
  pid="$(cat "$PIDFILE")"
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "asterisk" ] || return 1
  echo "$pid"
}

is_running() { running_pid >/dev/null; }

ari_ready() {
  curl -fsS -m 2 -u "$ARI_USER:$ARI_PASS" "$ARI_URL" >/dev/null 2>&1
}

rx() { chroot "$ROOT" asterisk -rx "$1"; }

cmd_start() {
  if is_running; then
    cmd_install_conf
    rx "core reload" >/dev/null
    wait_ready || exit 1
    log "already running (pid $(running_pid)); configuration reloaded"
    return 0
  fi
  cmd_build
  cmd_install_conf
  # Ownership inside the root does not match the asterisk user after debootstrap.
  chroot "$ROOT" sh -c 'mkdir -p /run/asterisk && chown -R asterisk:asterisk /var/lib/asterisk /var/log/asterisk /var/spool/asterisk /run/asterisk'
  if ! mountpoint -q "$ROOT/proc"; then mount -t proc proc "$ROOT/proc"; fi
  log "starting Asterisk (log: $LOGFILE)"
  echo "=== start $(date -Is)" >>"$LOGFILE"
  # setsid: own session, so the caller's Ctrl-C or process-group kill does not
  # reach it; chroot execs asterisk, so $! is Asterisk's own pid.
  # 9>&-: do not hand the lock descriptor to Asterisk (it would hold the lock).
  setsid chroot "$ROOT" asterisk -f -U asterisk -G asterisk </dev/null >>"$LOGFILE" 2>&1 9>&- &
  echo $! >"$PIDFILE"
  # A start that does not become ready is undone, so the next call starts afresh.
  if ! wait_ready; then cmd_stop >&2; exit 1; fi
  log "ready (pid $(running_pid)): ARI on http://127.0.0.1:8088/ari, SIP on udp 127.0.0.1:5060"
}

# Wait until ARI answers with our credentials; on failure print the log tail
# and return 1.
wait_ready() {
  local deadline=$((SECONDS + START_TIMEOUT))
  until ari_ready; do
    if ! is_running; then
      tail -n 40 "$LOGFILE" >&2
      echo "asterisk: ERROR: Asterisk exited during start-up" >&2
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 40 "$LOGFILE" >&2
      echo "asterisk: ERROR: ARI did not answer on $ARI_URL within ${START_TIMEOUT}s" >&2
      return 1
    fi
    sleep 0.5
  done
}

cmd_stop() {
  local pid i
  if pid="$(running_pid)"; then
    log "stopping Asterisk (pid $pid)"
    timeout 10 chroot "$ROOT" asterisk -rx "core stop now" >/dev/null 2>&1 || true
    for i in $(seq 1 20); do [ -d "/proc/$pid" ] || break; sleep 0.5; done
    if [ -d "/proc/$pid" ]; then
      kill -TERM "$pid" 2>/dev/null || true
      for i in $(seq 1 10); do [ -d "/proc/$pid" ] || break; sleep 0.5; done
    fi
    if [ -d "/proc/$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; sleep 0.5; fi
    log "stopped"
  else
    log "not running"
  fi
  rm -f "$PIDFILE"
  if [ -d "$ROOT/proc" ] && mountpoint -q "$ROOT/proc"; then
    umount "$ROOT/proc" 2>/dev/null || umount -l "$ROOT/proc"
  fi
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    if ari_ready; then
      log "running (pid $pid), ARI ready"
      rx "core show uptime" | sed 's/^/  /'
      return 0
    fi
    log "running (pid $pid), ARI not answering"
    return 1
  fi
  log "not running"
  return 3
}

cmd_logs() {
  local n="${1:-100}"
  [ -f "$LOGFILE" ] && { echo "== $LOGFILE"; tail -n "$n" "$LOGFILE"; }
  [ -f "$ROOT/var/log/asterisk/messages.log" ] && { echo "== $ROOT/var/log/asterisk/messages.log"; tail -n "$n" "$ROOT/var/log/asterisk/messages.log"; }
  return 0
}

case "${1:-}" in
  build)        take_lock; cmd_build ;;
  install-conf) take_lock; cmd_install_conf ;;
  start)        take_lock; cmd_start ;;
  stop)         take_lock; cmd_stop ;;
  restart)      take_lock; cmd_stop; cmd_start ;;
  status)       cmd_status ;;
  rx)           shift; [ $# -ge 1 ] || die "usage: rx \"CLI command\""; is_running || die "not running"; rx "$*" ;;
  logs)         shift; cmd_logs "${1:-100}" ;;
  -h | --help | help) usage ;;
  *)            usage >&2; exit 2 ;;
esac
