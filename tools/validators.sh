#!/usr/bin/env bash
# Woodwork's validators for the container artifacts `woodwork build` writes (Dockerfile,
# docker-compose.yml, Kubernetes manifests, a Helm chart). These machines have no Docker engine and
# no cluster, so the tests check the artifacts with real validators instead:
#   - helm: the real Helm 3 CLI (`helm lint --strict`, `helm template`), built once from its Go
#     module (helm.sh/helm/v3) with `go install` into the cache, with the ldflags of helm's own
#     release build (its version, and the Kubernetes version it renders for); a `helm` v3 already
#     on PATH is used as it is. With Go's build cache cold the build takes about 70 s on 2 cores
#     (110 s of CPU); warm, 2 s.
#   - compose: the official Compose Specification JSON schema, copied out of the Go module
#     github.com/compose-spec/compose-go/v2 (schema/compose-spec.json), which Docker Compose itself
#     validates with.
# Dockerfiles and Kubernetes objects are checked by npm packages (dockerfile-utils,
# kubernetes-models) in packages/cli/test/support/validators.ts, which also reads the env below.
#
#   tools/validators.sh install [helm|compose ...]    install what is missing (no name: both); idempotent
#   tools/validators.sh env     [--json]              export WOODWORK_HELM=... WOODWORK_COMPOSE_SCHEMA=...
#                                                     (only for what is installed)
#
# Progress goes to stderr; `env` prints only the export lines on stdout, so
# `eval "$(bash tools/validators.sh env)"` works. `npm test` (tools/test.mjs) runs both.
# Cache: ${WOODWORK_VALIDATORS_DIR:-<repo>/.validators} (bin/helm, compose-spec.json, versions).
# Versions: WOODWORK_HELM_VERSION (v3.22.0), WOODWORK_COMPOSE_GO_VERSION (v2.16.2).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ALL_VALIDATORS=(helm compose)

CACHE="$(realpath -m "${WOODWORK_VALIDATORS_DIR:-$ROOT/.validators}")"
HELM_VERSION="${WOODWORK_HELM_VERSION:-v3.22.0}"
HELM_MODULE=helm.sh/helm/v3
COMPOSE_GO_VERSION="${WOODWORK_COMPOSE_GO_VERSION:-v2.16.2}"
COMPOSE_GO_MODULE=github.com/compose-spec/compose-go/v2
COMPOSE_SCHEMA="$CACHE/compose-spec.json"
GO_MIN=1.26 # the go directive of helm v3.22.0's go.mod

# ----------------------------------------------------------------------------------------------
# helpers

TAG=validators KIND=validator LOCK_DIR="$CACHE" LOCK_WAIT=1200
KNOWN=("${ALL_VALIDATORS[@]}")
# shellcheck source=tools/script-helpers.sh
source "$ROOT/tools/script-helpers.sh"

need_go() {
  command -v go >/dev/null 2>&1 ||
    die "go not found: $1 needs the Go toolchain on PATH (Go $GO_MIN or newer for helm $HELM_VERSION)"
}

show_log_tail() {
  [[ -s $1 ]] || return 0
  printf -- '----- last lines of %s -----\n' "$1" >&2
  tail -n 40 "$1" >&2
}

# module_dir MODULE VERSION NAME: download a Go module (into Go's module cache) and print its
# directory. NAME is the validator it is for, for the hint.
module_dir() {
  local module=$1 version=$2 name=$3 json dir out="$CACHE/$3-download.log"
  log "go mod download $module@$version"
  if ! json="$(cd "$CACHE" && go mod download -json "$module@$version" 9>&- </dev/null 2>"$out")"; then
    printf '%s\n' "$json" >>"$out"
    show_log_tail "$out"
    die "go mod download $module@$version failed (log: $out). Check that the Go module proxy is reachable (go env GOPROXY); then run 'bash tools/validators.sh install $name' again"
  fi
  dir="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$json")"
  [[ -n $dir && -d $dir ]] || die "go mod download $module@$version printed no module directory (log: $out)"
  printf '%s' "$dir"
}

# ----------------------------------------------------------------------------------------------
# helm

# helm_version BIN: "v3.22.0" when BIN answers `helm version`, else fails.
helm_version() {
  local out
  out="$("$1" version --template '{{.Version}}' 2>/dev/null)" || return 1
  [[ $out =~ ^v[0-9]+\.[0-9]+\.[0-9]+ ]] || return 1
  printf '%s' "$out"
}

# helm_bin: the helm the tests use: ours in the cache when it is the pinned version, else a
# Helm 3 on PATH. Fails when there is neither.
helm_bin() {
  local v path
  if [[ -x $CACHE/bin/helm ]] && v="$(helm_version "$CACHE/bin/helm")" && [[ $v == "$HELM_VERSION" ]]; then
    printf '%s' "$CACHE/bin/helm"
    return 0
  fi
  if path="$(command -v helm 2>/dev/null)" && v="$(helm_version "$path")" && [[ $v == v3.* ]]; then
    realpath "$path"
    return 0
  fi
  return 1
}

# The ldflags helm's own Makefile sets for a release: the version (else `helm version` says only
# "v3.22") and the Kubernetes version helm assumes without a cluster, derived from the client-go it
# builds against (else 1.20: `.Capabilities.KubeVersion` in `helm template` and lint's deprecation
# rule would be five years old).
helm_ldflags() {
  local dir=$1 client_go minor major
  client_go="$(awk '$1 == "k8s.io/client-go" { print $2; exit }' "$dir/go.mod")"
  [[ $client_go =~ ^v0\.([0-9]+)\. ]] || die "no k8s.io/client-go v0.x in $dir/go.mod: cannot tell which Kubernetes version helm $HELM_VERSION targets"
  # client-go v0.N is Kubernetes 1.N (the Makefile's "first field + 1")
  major=1 minor=${BASH_REMATCH[1]}
  local v=helm.sh/helm/v3/internal/version pairs=()
  pairs+=("-X $v.version=$HELM_VERSION" "-X $v.metadata=" "-X $v.gitTreeState=clean")
  pairs+=("-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=$major" "-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor")
  pairs+=("-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=$major" "-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor")
  printf '%s' "-s -w ${pairs[*]}"
}

helm_install() {
  local bin
  if bin="$(helm_bin)"; then
    log "helm $(helm_version "$bin") at $bin"
    return 0
  fi
  need_go "building helm $HELM_VERSION"
  local gov
  gov="$(go env GOVERSION 2>/dev/null)"
  gov="${gov#go}"
  if [[ "$(printf '%s\n%s\n' "$GO_MIN" "$gov" | sort -V | head -n 1)" != "$GO_MIN" ]]; then
    die "helm $HELM_VERSION needs Go $GO_MIN or newer to build, and go on PATH is $gov: put a newer go first on PATH (or install a Helm 3 on PATH, which is used as it is)"
  fi
  mkdir -p "$CACHE/bin"
  local dir ldflags out="$CACHE/helm-build.log" t0 times
  dir="$(module_dir "$HELM_MODULE" "$HELM_VERSION" helm)"
  ldflags="$(helm_ldflags "$dir")"
  log "building helm $HELM_VERSION: go install $HELM_MODULE/cmd/helm (about 70 s on 2 cores with a cold Go build cache, 2 s with a warm one; output: $out)"
  t0="$(now)"
  # -trimpath: no local paths in the binary. `time` reports the user CPU of the whole build (go and
  # every compiler and linker it ran), written to helm-build.time.
  if ! times="$({ TIMEFORMAT='%R %U %S' && time (cd "$CACHE" && CGO_ENABLED=0 GOBIN="$CACHE/bin" go install -trimpath \
    -ldflags="$ldflags" "$HELM_MODULE/cmd/helm@$HELM_VERSION" 9>&- </dev/null >"$out" 2>&1); } 2>&1)"; then
    show_log_tail "$out"
    die "go install $HELM_MODULE/cmd/helm@$HELM_VERSION failed (log: $out). Check that the Go module proxy is reachable (go env GOPROXY) and that the disk has room; then run 'bash tools/validators.sh install helm' again"
  fi
  local v real user sys
  read -r real user sys <<<"$times"
  printf 'helm %s: wall %ss, user CPU %ss, system CPU %ss (%s, %s cores)\n' "$HELM_VERSION" "$real" "$user" "$sys" "$(go env GOVERSION)" "$(nproc)" >"$CACHE/helm-build.time"
  v="$(helm_version "$CACHE/bin/helm")" || die "the helm just built at $CACHE/bin/helm does not answer 'helm version' (log: $out)"
  [[ $v == "$HELM_VERSION" ]] || die "the helm just built at $CACHE/bin/helm says it is $v, not $HELM_VERSION (log: $out)"
  log "helm $v built in $(since "$t0") (wall ${real}s, user CPU ${user}s, system CPU ${sys}s) at $CACHE/bin/helm"
}

# ----------------------------------------------------------------------------------------------
# compose: the Compose Specification schema from compose-go

compose_installed() {
  [[ -s $COMPOSE_SCHEMA && -s $CACHE/compose-spec.version ]] &&
    [[ "$(<"$CACHE/compose-spec.version")" == "$COMPOSE_GO_MODULE@$COMPOSE_GO_VERSION" ]]
}

compose_install() {
  if compose_installed; then
    log "compose schema from $COMPOSE_GO_MODULE@$COMPOSE_GO_VERSION at $COMPOSE_SCHEMA"
    return 0
  fi
  need_go "fetching the Compose schema"
  mkdir -p "$CACHE"
  local dir
  dir="$(module_dir "$COMPOSE_GO_MODULE" "$COMPOSE_GO_VERSION" compose)"
  [[ -f $dir/schema/compose-spec.json ]] ||
    die "no schema/compose-spec.json in $COMPOSE_GO_MODULE@$COMPOSE_GO_VERSION (module dir '${dir:-?}'): pick another version with WOODWORK_COMPOSE_GO_VERSION"
  # copy, then rename: a reader never sees half a file
  cp "$dir/schema/compose-spec.json" "$COMPOSE_SCHEMA.tmp"
  chmod 644 "$COMPOSE_SCHEMA.tmp"
  mv -f "$COMPOSE_SCHEMA.tmp" "$COMPOSE_SCHEMA"
  printf '%s\n' "$COMPOSE_GO_MODULE@$COMPOSE_GO_VERSION" >"$CACHE/compose-spec.version"
  log "compose schema from $COMPOSE_GO_MODULE@$COMPOSE_GO_VERSION at $COMPOSE_SCHEMA"
}

# ----------------------------------------------------------------------------------------------
# commands

cmd_install() {
  parse_names "$@"
  take_lock
  local v
  for v in "${NAMES[@]}"; do
    case $v in
      helm) helm_install ;;
      compose) compose_install ;;
    esac
  done
}

cmd_env() {
  local json=0 a bin
  for a in "$@"; do
    case $a in
      --json) json=1 ;;
      *) die "env takes --json, not '$a'" ;;
    esac
  done
  local lines=()
  if bin="$(helm_bin)"; then
    lines+=("export WOODWORK_HELM=$bin")
  elif ((!json)); then
    lines+=("# helm is not installed (bash tools/validators.sh install helm)")
  fi
  if compose_installed; then
    lines+=("export WOODWORK_COMPOSE_SCHEMA=$COMPOSE_SCHEMA")
  elif ((!json)); then
    lines+=("# the compose schema is not installed (bash tools/validators.sh install compose)")
  fi
  if ((json)); then
    local out="{" sep="" l kv
    for l in "${lines[@]+"${lines[@]}"}"; do
      kv="${l#export }"
      out+="$sep\"${kv%%=*}\":\"${kv#*=}\""
      sep=","
    done
    echo "$out}"
  else
    printf '%s\n' "${lines[@]}"
  fi
}

usage() {
  sed -n '2,/^set /{/^#/p}' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

main() {
  local sub="${1:-}"
  [[ $# -gt 0 ]] && shift
  case $sub in
    install) cmd_install "$@" ;;
    env) cmd_env "$@" ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
