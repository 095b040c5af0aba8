# Shared by tools/services.sh and tools/validators.sh (sourced, not run): logging under the script's
# tag, timing, parsing the names given on the command line, and the lock that keeps parallel
# callers from installing or starting the same thing twice. The sourcing script sets:
#   TAG        log prefix and script name (services, validators)
#   KIND       what a name is, for messages (service, validator)
#   KNOWN      the names it manages; none given on the command line means all of them
#   LOCK_DIR   where the lock file lives
#   LOCK_WAIT  seconds to wait for the lock before giving up

log() { printf '[%s] %s\n' "$TAG" "$*" >&2; }
die() {
  printf '[%s] error: %s\n' "$TAG" "$*" >&2
  exit 1
}
now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

is_known() {
  local k
  for k in "${KNOWN[@]}"; do [[ $1 == "$k" ]] && return 0; done
  return 1
}

# The names given on the command line (none = all) into NAMES, rejecting unknown ones.
NAMES=()
parse_names() {
  NAMES=()
  local n
  for n in "$@"; do
    is_known "$n" || die "unknown $KIND '$n' (known: ${KNOWN[*]})"
    NAMES+=("$n")
  done
  ((${#NAMES[@]})) || NAMES=("${KNOWN[@]}")
}

# Daemons and installers are started with fd 9 closed so they never hold the lock.
take_lock() {
  mkdir -p "$LOCK_DIR"
  exec 9>"$LOCK_DIR/.lock"
  if ! flock -w "$LOCK_WAIT" 9; then die "another tools/$TAG.sh has held $LOCK_DIR/.lock for $((LOCK_WAIT / 60)) minutes"; fi
}
