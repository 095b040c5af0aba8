#!/usr/bin/env bash
# The browser the console's tests drive headless (puppeteer-core): Debian's `chromium`, installed
# with apt-get when missing. puppeteer-core downloads nothing, so the tests use exactly this one.
#
#   tools/browser.sh install    install chromium if it is not on PATH (needs root, or sudo); idempotent
#   tools/browser.sh env        export WOODWORK_CHROMIUM=/usr/bin/chromium (only when installed)
#
# Progress goes to stderr; `env` prints only the export line, so `eval "$(bash tools/browser.sh env)"`
# works. `npm test` (tools/test.mjs) runs both. WOODWORK_CHROMIUM set beforehand wins.
set -euo pipefail

find_browser() {
  if [[ -n "${WOODWORK_CHROMIUM:-}" && -x "${WOODWORK_CHROMIUM}" ]]; then echo "$WOODWORK_CHROMIUM"; return 0; fi
  command -v chromium || command -v chromium-browser || return 1
}

case "${1:-}" in
  install)
    if browser="$(find_browser)"; then echo "browser: $browser" >&2; exit 0; fi
    sudo=""
    if [[ "$(id -u)" != 0 ]]; then sudo="sudo"; fi
    echo "browser: installing Debian's chromium with apt-get" >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >&2 ||
      { $sudo apt-get update >&2 && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >&2; }
    browser="$(find_browser)" || { echo "browser: chromium is still not on PATH after apt-get" >&2; exit 1; }
    echo "browser: $browser" >&2
    ;;
  env)
    if browser="$(find_browser)"; then echo "export WOODWORK_CHROMIUM=$browser"; fi
    ;;
  *)
    echo "usage: tools/browser.sh install|env" >&2
    exit 2
    ;;
esac
