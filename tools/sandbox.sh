#!/usr/bin/env bash
# The sandbox `environment coding` runs commands in: bubblewrap (`bwrap`, Debian's package
# `bubblewrap`), installed when missing and checked to really create a sandbox here — a machine
# whose kernel forbids unprivileged user namespaces has the program and still cannot use it.
#
#   tools/sandbox.sh install    install bubblewrap unless `bwrap` is on the PATH, then check it (idempotent)
#   tools/sandbox.sh status     say whether a sandbox can be made; exit 3 when not
#
# `npm test` (tools/test.mjs) runs `install` first, so the environment tests run on a fresh
# machine. Installing needs root or sudo without a password (apt-get). No Docker is involved.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$(realpath -m "${WOODWORK_SERVICES_DIR:-$ROOT/.services}")"

TAG=sandbox KIND=sandbox LOCK_DIR="$STATE" LOCK_WAIT=600
KNOWN=(bubblewrap)
# shellcheck source=tools/script-helpers.sh
source "$ROOT/tools/script-helpers.sh"

as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@"
  else
    die "installing bubblewrap needs root (or sudo): run apt-get install bubblewrap yourself"
  fi
}

# The same probe the environment makes before it runs a command (packages/ai/src/environment/sandbox.ts).
works() { "${WOODWORK_BWRAP:-bwrap}" --ro-bind / / --unshare-all --die-with-parent -- true 2>&1; }

install() {
  take_lock
  if ! command -v "${WOODWORK_BWRAP:-bwrap}" >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || die "bwrap is missing and apt-get is not here: install bubblewrap with your package manager"
    local out="$STATE/install.log" start
    start="$(now)"
    mkdir -p "$STATE"
    log "apt-get install bubblewrap (output: $out)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends bubblewrap 9>&- </dev/null >>"$out" 2>&1 ||
      { as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq 9>&- </dev/null >>"$out" 2>&1 &&
        as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends bubblewrap 9>&- </dev/null >>"$out" 2>&1; } ||
      { tail -n 20 "$out" >&2; die "apt-get install bubblewrap failed"; }
    log "bubblewrap installed in $(since "$start")"
  fi
  local problem
  problem="$(works)" || die "bubblewrap is installed but cannot create a sandbox here: ${problem:-no message} (unprivileged user namespaces may be disabled: sysctl kernel.unprivileged_userns_clone=1)"
  log "bubblewrap $("${WOODWORK_BWRAP:-bwrap}" --version | awk '{ print $2 }') makes sandboxes here"
}

case "${1:-}" in
  install) install ;;
  status)
    if problem="$(works)"; then log "bubblewrap makes sandboxes here"; else log "no sandbox here: ${problem:-bwrap missing}"; exit 3; fi
    ;;
  *)
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
