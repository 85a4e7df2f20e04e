#!/usr/bin/env bash
# Install the host (Debian) packages that the telephony scripts need.
#
#   scripts/host-packages.sh [extra-package ...]
#
# Idempotent: packages already installed are skipped quietly; `apt-get update`
# runs at most once, and only when something has to be installed. Safe for CI on
# a fresh Debian machine (runs non-interactively, as root or through sudo).
#
# Default set:
#   debootstrap  - builds the Debian sid root that holds Asterisk 22 (scripts/asterisk.sh)
#   sip-tester   - SIPp, the SIP caller used by the end-to-end tests (test/sipp/)
#   curl         - readiness probe of the ARI HTTP endpoint
#   ca-certificates - so apt/debootstrap can use https mirrors if the host does
# Extra packages can be given as arguments: scripts/make-prompts.sh passes espeak-ng and sox;
# scripts/test.sh passes chromium (headless browser driven by playwright-core in
# test/e2e/widget.test.ts, /usr/bin/chromium), which the running stack does not need.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

packages=(debootstrap sip-tester curl ca-certificates "$@")

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

# A package counts as present when dpkg reports it "install ok installed".
is_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

missing=()
for p in "${packages[@]}"; do
  is_installed "$p" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

echo "host-packages: installing ${missing[*]}"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "host-packages: done"
