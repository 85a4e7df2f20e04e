#!/usr/bin/env bash
# Renders the /etc/asterisk of one cluster node from asterisk-conf/ (the single-node
# configuration is the template): only what must differ between nodes changes.
#
#   cluster/render-node-conf.sh OUT_DIR
#
# Environment:
#   NODE            node name (a, b, ...): Asterisk's systemname and entity id derive from it
#   NODE_SIP        SIP bind address:port                 (e.g. 127.0.0.2:5060)
#   NODE_HTTP       HTTP/ARI bind address:port            (e.g. 127.0.0.2:8188)
#   NODE_RTP        RTP port range first-last             (e.g. 12000-12999)
#   NODE_ETC        where Asterisk will read OUT_DIR from (default /etc/asterisk)
#   NODE_OWN_DIRS   1: run, spool, log, database and cache directories of its own
#                   (/var/{run,spool,log,lib,cache}/asterisk-$NODE), for several nodes from one
#                   installation (scripts/cluster.sh); unset: Debian's (one node per machine
#                   or container)
#   SOURCE          template directory (default: asterisk-conf/ of this repository)
#
# Why each change:
#   systemname   prefixes every channel id with the node name: the ledger keys calls by
#                channel id, and two nodes' "<epoch>.<n>" ids would collide otherwise
#   entityid     the Asterisk id the ledger records per call; a node's IVR closes, after a
#                restart, the open calls recorded with ITS id only. Derived from the MAC by
#                default, so nodes sharing a machine or an image would share it
#   bind / ports one SIP address, one HTTP port and one RTP range per node
set -euo pipefail

out="${1:?usage: render-node-conf.sh OUT_DIR}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="${SOURCE:-$repo/asterisk-conf}"
: "${NODE:?set NODE}" "${NODE_SIP:?set NODE_SIP}" "${NODE_HTTP:?set NODE_HTTP}" "${NODE_RTP:?set NODE_RTP}"
[[ "$NODE" =~ ^[a-z0-9][a-z0-9-]*$ ]] || { echo "render-node-conf: NODE must be lower-case letters, digits, dashes" >&2; exit 2; }
etc="${NODE_ETC:-/etc/asterisk}"

# Locally administered MAC-like id, stable per node name.
hex="$(printf '%s' "sanscode-node-$NODE" | md5sum | cut -c1-8)"
entity="02:53:${hex:0:2}:${hex:2:2}:${hex:4:2}:${hex:6:2}"

mkdir -p "$out"
find "$out" -mindepth 1 -maxdepth 1 -name '*.conf' -delete
install -m 0644 "$src"/*.conf "$out"/

# Replaces the whole line matching $2 in file $1 by $3, and fails if no line matched (the
# template changed: better stop than run a node with the single-node value).
set_line() {
  local file="$out/$1" pattern="$2" line="$3"
  grep -q "$pattern" "$file" || { echo "render-node-conf: no line matching '$pattern' in $1" >&2; exit 1; }
  sed -i "s|$pattern.*|$line|" "$file"
}

# The template marks [directories] with (!), which makes Asterisk ignore the section (Debian's
# paths are its compiled-in defaults anyway); a node's own paths must be read.
set_line asterisk.conf '^\[directories\]' '[directories]'
set_line asterisk.conf '^astetcdir =>' "astetcdir => $etc"
if [ "${NODE_OWN_DIRS:-}" = 1 ]; then
  set_line asterisk.conf '^astrundir =>' "astrundir => /var/run/asterisk-$NODE"
  set_line asterisk.conf '^astspooldir =>' "astspooldir => /var/spool/asterisk-$NODE"
  set_line asterisk.conf '^astlogdir =>' "astlogdir => /var/log/asterisk-$NODE"
  set_line asterisk.conf '^astdbdir =>' "astdbdir => /var/lib/asterisk-$NODE"
  set_line asterisk.conf '^astkeydir =>' "astkeydir => /var/lib/asterisk-$NODE"
  set_line asterisk.conf '^astcachedir =>' "astcachedir => /var/cache/asterisk-$NODE"
fi
# [options] is the last section of the template.
tail -n 1 "$out/asterisk.conf" | grep -q . && echo >>"$out/asterisk.conf"
cat >>"$out/asterisk.conf" <<EOF
; --- cluster node $NODE (cluster/render-node-conf.sh) ---
; Channel ids become "$NODE-<epoch>.<n>": unique across nodes, as the ledger requires.
systemname = $NODE
; The Asterisk id the ledger records with each call of this node.
entityid = $entity
EOF

set_line pjsip.conf '^bind = ' "bind = $NODE_SIP"
set_line http.conf '^bindaddr = ' "bindaddr = ${NODE_HTTP%:*}"
set_line http.conf '^bindport = ' "bindport = ${NODE_HTTP##*:}"
set_line rtp.conf '^rtpstart = ' "rtpstart = ${NODE_RTP%-*}"
set_line rtp.conf '^rtpend = ' "rtpend = ${NODE_RTP#*-}"
