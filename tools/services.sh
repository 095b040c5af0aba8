#!/usr/bin/env bash
# Woodwork's real brokers for tests and developers: Redis 7, NATS with JetStream and Apache Kafka 4
# (KRaft, single node), installed when missing and run on loopback as background daemons.
#
#   tools/services.sh start   [--fresh] [name ...]     install if missing, start, wait until each answers
#                                                      (--fresh: stop and wipe their state first)
#   tools/services.sh stop    [--clean] [name ...]     SIGTERM, wait, SIGKILL after a deadline; --clean wipes state
#   tools/services.sh restart [name ...]               stop + start on the SAME data dirs (data survives)
#   tools/services.sh status  [name ...]               one line per service; exit 3 if one is not running
#   tools/services.sh env     [--all] [--json]         export WOODWORK_TEST_*_URL=... for running services
#   tools/services.sh install [name ...]               install only (warm the cache), start nothing
#   tools/services.sh logs    <name> [lines]           tail a service's log
#   tools/services.sh kafka-class <class> [args ...]   run a class from the Kafka jars (console tools)
#
# No name means all three. `start` and `restart` print the env lines of what they started on stdout
# (progress goes to stderr), so `eval "$(tools/services.sh start)"` works.
# Documentation (ports, env vars, versions, cache, timings): tools/services/README.md
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HERE="$ROOT/tools/services"
ALL_SERVICES=(redis nats kafka chroma)

STATE="${WOODWORK_SERVICES_DIR:-$ROOT/.services}"
CACHE="${WOODWORK_SERVICES_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/woodwork/services}"
STATE="$(realpath -m "$STATE")"
CACHE="$(realpath -m "$CACHE")"
HOST=127.0.0.1

REDIS_PORT="${WOODWORK_REDIS_PORT:-6390}"
NATS_PORT="${WOODWORK_NATS_PORT:-4230}"
NATS_MONITOR_PORT="${WOODWORK_NATS_MONITOR_PORT:-8230}"
NATS_FROM_GO="${WOODWORK_NATS_FROM_GO:-0}"
NATS_GO_VERSION="${WOODWORK_NATS_GO_VERSION:-v2.15.3}"
KAFKA_PORT="${WOODWORK_KAFKA_PORT:-9093}"
CHROMA_PORT="${WOODWORK_CHROMA_PORT:-8011}"
CHROMA_VERSION="${WOODWORK_CHROMA_VERSION:-1.5.9}"
CHROMA_VENV="$(realpath -m "${WOODWORK_CHROMA_VENV:-$CACHE/../chroma-venv}")"
KAFKA_CONTROLLER_PORT="${WOODWORK_KAFKA_CONTROLLER_PORT:-9094}"
KAFKA_VERSION="${WOODWORK_KAFKA_VERSION:-4.4.0}"
KAFKA_SCALA=2.13
KAFKA_HEAP_OPTS="${WOODWORK_KAFKA_HEAP_OPTS:--Xmx512m -Xms256m}"
KAFKA_JVM_OPTS="${WOODWORK_KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true}"
KAFKA_RECOVERY_THREADS="${WOODWORK_KAFKA_RECOVERY_THREADS:-8}"
START_TIMEOUT="${WOODWORK_SERVICES_TIMEOUT:-}"   # seconds; default per service below
STOP_TIMEOUT="${WOODWORK_SERVICES_STOP_TIMEOUT:-}" # seconds; default per service below

# ----------------------------------------------------------------------------------------------
# helpers

TAG=services KIND=service LOCK_DIR="$STATE" LOCK_WAIT=900
KNOWN=("${ALL_SERVICES[@]}")
# shellcheck source=tools/script-helpers.sh
source "$ROOT/tools/script-helpers.sh"

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# Root, or sudo without a password, for apt-get.
as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@"
  else
    die "installing needs root (or sudo): $*"
  fi
}

APT_UPDATED=0
apt_update_once() {
  ((APT_UPDATED)) && return 0
  log "apt-get update"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq 9>&- </dev/null >&2
  APT_UPDATED=1
}

apt_has_candidate() {
  local cand
  cand="$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2 }')"
  [[ -n $cand && $cand != "(none)" ]]
}

# apt_install PACKAGE...: idempotent, non-interactive, no recommends; refreshes the lists once
# when a package is unknown or the install fails on stale lists.
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install $* yourself"
  local p
  for p in "$@"; do apt_has_candidate "$p" || apt_update_once; done
  local cmd=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300
    install -y -qq --no-install-recommends "$@")
  local out="$STATE/install.log"
  mkdir -p "$STATE"
  log "apt-get install $* (output: $out)"
  if ! as_root "${cmd[@]}" 9>&- </dev/null >>"$out" 2>&1; then
    if ((APT_UPDATED)); then
      tail -n 30 "$out" >&2
      die "apt-get install $* failed"
    fi
    apt_update_once
    as_root "${cmd[@]}" 9>&- </dev/null >>"$out" 2>&1 || {
      tail -n 30 "$out" >&2
      die "apt-get install $* failed"
    }
  fi
}

# Start a command as a daemon in its own session, stdio to a file, fd 9 closed; the wrapper
# writes the daemon's pid (the exec keeps it) to $1.
spawn() {
  local pidfile=$1 out=$2
  shift 2
  rm -f "$pidfile"
  # shellcheck disable=SC2016 # $$ and $@ belong to the inner bash
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" </dev/null >>"$out" 2>&1 9>&- &
  for _ in $(seq 1 100); do
    [[ -s $pidfile ]] && return 0
    sleep 0.05
  done
  die "could not start $1 (no pid in $pidfile)"
}

# pid_of SERVICE: the pid from its pid file when that process is alive and is the right program.
pid_of() {
  local svc=$1 pidfile pid pattern
  case $svc in
    redis) pidfile="$STATE/redis/redis.pid" pattern=redis-server ;;
    nats) pidfile="$STATE/nats/nats.pid" pattern=nats-server ;;
    kafka) pidfile="$STATE/kafka/kafka.pid" pattern=kafka.Kafka ;;
    chroma) pidfile="$STATE/chroma/chroma.pid" pattern=chroma ;;
  esac
  [[ -s $pidfile ]] || return 1
  pid="$(<"$pidfile")"
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$pattern" || return 1
  # a zombie is not running
  [[ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" != Z ]] || return 1
  printf '%s' "$pid"
}

# The port a running service was started with (recorded at start), else the configured one.
port_of() {
  local svc=$1 f="$STATE/$1/port"
  if [[ -s $f ]] && pid_of "$svc" >/dev/null; then
    cat "$f"
  else
    case $svc in
      redis) echo "$REDIS_PORT" ;;
      nats) echo "$NATS_PORT" ;;
      kafka) echo "$KAFKA_PORT" ;;
      chroma) echo "$CHROMA_PORT" ;;
    esac
  fi
}

configured_port() {
  case $1 in
    redis) echo "$REDIS_PORT" ;;
    nats) echo "$NATS_PORT" ;;
    kafka) echo "$KAFKA_PORT" ;;
    chroma) echo "$CHROMA_PORT" ;;
  esac
}

log_file() {
  case $1 in
    redis) echo "$STATE/redis/redis.log" ;;
    nats) echo "$STATE/nats/nats.log" ;;
    kafka) echo "$STATE/kafka/logs/server.log" ;;
    chroma) echo "$STATE/chroma/chroma.out" ;;
  esac
}

show_log_tail() {
  local f
  for f in "$@"; do
    [[ -s $f ]] || continue
    printf -- '----- last lines of %s -----\n' "$f" >&2
    tail -n 40 "$f" >&2
  done
}

# wait_ready SERVICE SECONDS PROBE...: poll PROBE until it succeeds; fail with the log tail
# if the deadline passes or the daemon exits.
wait_ready() {
  local svc=$1 secs=$2
  shift 2
  local deadline=$((SECONDS + secs))
  while :; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if ! pid_of "$svc" >/dev/null; then
      log "$svc exited during startup"
      show_log_tail "$STATE/$svc/$svc.out" "$(log_file "$svc")"
      die "$svc did not come up (see the log above; state in $STATE/$svc)"
    fi
    if ((SECONDS >= deadline)); then
      log "$svc did not answer within ${secs}s"
      show_log_tail "$STATE/$svc/$svc.out" "$(log_file "$svc")"
      die "$svc did not come up within ${secs}s (raise WOODWORK_SERVICES_TIMEOUT; state in $STATE/$svc)"
    fi
    sleep 0.2
  done
}

# ----------------------------------------------------------------------------------------------
# redis: Debian's redis-server (7.0 on bookworm)

redis_install() {
  if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    apt_install redis-server redis-tools
    # Debian's postinst may start its own system instance on 6379; we never use it.
  fi
  local v
  v="$(redis_version)"
  [[ ${v%%.*} -ge 7 ]] || log "warning: redis-server $v is older than 7; Redis Streams features may be missing"
}

redis_version() { redis-server --version | sed -n 's/.* v=\([0-9.]*\).*/\1/p'; }

redis_ready() { [[ "$(redis-cli -h "$HOST" -p "$1" PING 2>/dev/null)" == PONG ]]; }

redis_start() {
  local d="$STATE/redis"
  mkdir -p "$d"
  rm -f "$d/redis.pid"
  # appendonly: a restart keeps every acknowledged write (SIGTERM flushes the AOF).
  redis-server --bind "$HOST" --port "$REDIS_PORT" --protected-mode yes \
    --daemonize yes --pidfile "$d/redis.pid" --logfile "$d/redis.log" --dir "$d" \
    --appendonly yes --appendfsync everysec --save '' \
    </dev/null >>"$d/redis.out" 2>&1 9>&- || {
    show_log_tail "$d/redis.out" "$d/redis.log"
    die "redis-server failed to start"
  }
  for _ in $(seq 1 100); do
    [[ -s $d/redis.pid ]] && break
    sleep 0.05
  done
  wait_ready redis "${START_TIMEOUT:-30}" redis_ready "$REDIS_PORT"
}

# ----------------------------------------------------------------------------------------------
# nats: Debian's nats-server (2.9.10 on bookworm), or with WOODWORK_NATS_FROM_GO=1 a nats-server
# built by `go install` from the Go module proxy into the cache

nats_bin() {
  if [[ $NATS_FROM_GO == 1 ]]; then
    echo "$CACHE/nats-server-$NATS_GO_VERSION/nats-server"
  else
    command -v nats-server 2>/dev/null || echo /usr/bin/nats-server
  fi
}

nats_install() {
  if [[ $NATS_FROM_GO == 1 ]]; then
    local dir="$CACHE/nats-server-$NATS_GO_VERSION"
    if [[ ! -x $dir/nats-server ]]; then
      command -v go >/dev/null 2>&1 || die "WOODWORK_NATS_FROM_GO=1 needs the go command"
      log "go install github.com/nats-io/nats-server/v2@$NATS_GO_VERSION"
      mkdir -p "$dir.tmp"
      GOBIN="$dir.tmp" GOFLAGS="${GOFLAGS:--buildvcs=false}" \
        go install "github.com/nats-io/nats-server/v2@$NATS_GO_VERSION" 9>&- </dev/null >&2 ||
        die "go install nats-server@$NATS_GO_VERSION failed"
      rm -rf "$dir"
      mv "$dir.tmp" "$dir"
    fi
  elif ! command -v nats-server >/dev/null 2>&1; then
    apt_install nats-server
  fi
}

# The binary a running nats was started with (recorded at start), else the configured one.
nats_running_bin() {
  if [[ -s $STATE/nats/bin ]] && pid_of nats >/dev/null; then cat "$STATE/nats/bin"; else nats_bin; fi
}

nats_version() { "$(nats_running_bin)" --version 2>/dev/null | sed -n 's/.*v\([0-9][0-9.]*\).*/\1/p'; }

# Ready: the client port sends an INFO line that says JetStream is on, and (with curl) the
# monitoring endpoint's /healthz, which also checks JetStream, says ok.
nats_ready() {
  local port=$1 mport=$2 line
  line="$( (exec 3<>"/dev/tcp/$HOST/$port" && IFS= read -r -t 2 l <&3 && printf '%s' "$l") 2>/dev/null)" || return 1
  [[ $line == INFO* && $line == *'"jetstream":true'* ]] || return 1
  if command -v curl >/dev/null 2>&1; then
    curl -fsS -m 2 "http://$HOST:$mport/healthz" | grep -q '"ok"' || return 1
  fi
}

nats_start() {
  local d="$STATE/nats" bin
  bin="$(nats_bin)"
  mkdir -p "$d/jetstream"
  spawn "$d/nats.pid" "$d/nats.out" "$bin" \
    -a "$HOST" -p "$NATS_PORT" -m "$NATS_MONITOR_PORT" -n woodwork-test \
    -js -sd "$d/jetstream" -l "$d/nats.log"
  echo "$NATS_MONITOR_PORT" >"$d/monitor_port"
  echo "$bin" >"$d/bin"
  wait_ready nats "${START_TIMEOUT:-30}" nats_ready "$NATS_PORT" "$NATS_MONITOR_PORT"
}

# ----------------------------------------------------------------------------------------------
# kafka: org.apache.kafka:kafka_2.13 and its runtime dependencies from Maven Central, run with
# Java 17+ as one combined broker+controller (KRaft)

KAFKA_HOME="$CACHE/kafka-$KAFKA_VERSION"

java_bin() {
  if [[ -n ${WOODWORK_JAVA:-} ]]; then
    echo "$WOODWORK_JAVA"
  elif [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then
    echo "$JAVA_HOME/bin/java"
  else
    command -v java 2>/dev/null || echo java
  fi
}

java_major() { "$(java_bin)" -version 2>&1 | sed -n '1s/.*version "\([0-9]*\).*/\1/p'; }

kafka_install() {
  if ! command -v "$(java_bin)" >/dev/null 2>&1; then apt_install openjdk-17-jre-headless; fi
  local major
  major="$(java_major)"
  [[ -n $major && $major -ge 17 ]] || die "Kafka $KAFKA_VERSION needs Java 17+, $(java_bin) is '${major:-?}'"
  [[ -f $KAFKA_HOME/.complete ]] && return 0
  command -v mvn >/dev/null 2>&1 || apt_install maven
  log "fetching Apache Kafka $KAFKA_VERSION (kafka_$KAFKA_SCALA + runtime dependencies) with Maven into $KAFKA_HOME"
  local tmp="$KAFKA_HOME.tmp"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  cp "$HERE/kafka/pom.xml" "$tmp/pom.xml"
  if ! (cd "$tmp" && mvn -B -q -ntp -f pom.xml dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp/libs" -Dkafka.version="$KAFKA_VERSION" \
    9>&- </dev/null >"$tmp/mvn.log" 2>&1); then
    tail -n 40 "$tmp/mvn.log" >&2
    die "Maven could not fetch Kafka $KAFKA_VERSION (log: $tmp/mvn.log)"
  fi
  [[ -f $tmp/libs/kafka_$KAFKA_SCALA-$KAFKA_VERSION.jar ]] || die "kafka_$KAFKA_SCALA-$KAFKA_VERSION.jar missing after the fetch"
  rm -rf "$tmp/target"
  touch "$tmp/.complete"
  rm -rf "$KAFKA_HOME"
  mv "$tmp" "$KAFKA_HOME"
  log "kafka $KAFKA_VERSION: $(find "$KAFKA_HOME/libs" -name '*.jar' | wc -l) jars, $(du -sh "$KAFKA_HOME/libs" | cut -f1)"
}

kafka_version() {
  local jar
  jar="$(find "$KAFKA_HOME/libs" -maxdepth 1 -name "kafka_$KAFKA_SCALA-*.jar" 2>/dev/null | head -n 1)"
  [[ -n $jar ]] || return 0
  jar="${jar##*/kafka_"$KAFKA_SCALA"-}"
  echo "${jar%.jar}"
}

# kafka_java CLASS ARGS...: run a class from the cached jars (used for format and the tools).
kafka_java() {
  local d="$STATE/kafka"
  mkdir -p "$d/logs"
  "$(java_bin)" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dlog4j2.configurationFile="$HERE/kafka/log4j2.xml" -Dkafka.logs.dir="$d/logs" \
    -cp "$KAFKA_HOME/libs/*" "$@"
}

kafka_write_config() {
  local d="$STATE/kafka"
  mkdir -p "$d/data" "$d/logs"
  cat >"$d/server.properties" <<EOF
# generated by tools/services.sh: single-node Apache Kafka $KAFKA_VERSION, KRaft, loopback only
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$d/data

# one node: every internal topic with one replica
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# test-friendly: topics on first use, no rebalance delay, short session timeouts allowed
auto.create.topics.enable=true
delete.topic.enable=true
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000

# 2-core machine
num.network.threads=2
num.io.threads=4
# Threads that load every partition's log at start and flush and close them at shutdown. Test runs
# leave thousands of partitions behind, and with 1 thread a restart took ~90 s (35 s closing logs,
# 33 s loading them): the work is fsync and file opening, which waits on the disk, not the CPU.
num.recovery.threads.per.data.dir=$KAFKA_RECOVERY_THREADS
background.threads=4
log.retention.hours=168
EOF
}

kafka_format() {
  local d="$STATE/kafka"
  [[ -f $d/data/meta.properties ]] && return 0
  local id
  # a Kafka Uuid: 16 random bytes, URL-safe base64 without padding. Like Kafka's own
  # Uuid.randomUuid, draw again when it starts with '-': the storage tool would read it as an option.
  id="-"
  while [[ $id == -* ]]; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
  done
  log "formatting Kafka storage (cluster id $id)"
  kafka_java kafka.tools.StorageTool format -t "$id" -c "$d/server.properties" --ignore-formatted \
    9>&- </dev/null >>"$d/kafka.out" 2>&1 || {
    show_log_tail "$d/kafka.out"
    die "kafka storage format failed"
  }
}

kafka_ready() {
  local port=$1
  if command -v node >/dev/null 2>&1; then
    node "$HERE/kafka-probe.mjs" "$HOST" "$port" 3000
  else
    port_open "$port" && grep -q 'Kafka Server started' "$STATE/kafka/logs/server.log"
  fi
}

kafka_start() {
  local d="$STATE/kafka"
  kafka_write_config
  kafka_format
  # shellcheck disable=SC2086 # the option strings are meant to split
  spawn "$d/kafka.pid" "$d/kafka.out" "$(java_bin)" $KAFKA_HEAP_OPTS $KAFKA_JVM_OPTS \
    -Dlog4j2.configurationFile="$HERE/kafka/log4j2.xml" -Dkafka.logs.dir="$d/logs" \
    -cp "$KAFKA_HOME/libs/*" kafka.Kafka "$d/server.properties"
  wait_ready kafka "${START_TIMEOUT:-120}" kafka_ready "$KAFKA_PORT"
}

# ----------------------------------------------------------------------------------------------
# chroma: the Chroma vector database server from PyPI's `chromadb` (pinned), in its own venv in the
# cache, so nothing is installed into the system's Python. `knowledge_base chroma` tests use it.

chroma_install() {
  if [[ -x $CHROMA_VENV/bin/chroma ]] && [[ "$(chroma_version)" == "$CHROMA_VERSION" ]]; then return 0; fi
  command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
  # Debian's python3 makes venvs only with python3-venv (its ensurepip).
  python3 -c 'import ensurepip' >/dev/null 2>&1 || apt_install python3-venv
  local out="$STATE/install.log"
  mkdir -p "$STATE"
  log "pip install chromadb==$CHROMA_VERSION into $CHROMA_VENV (output: $out)"
  [[ -x $CHROMA_VENV/bin/pip ]] || python3 -m venv "$CHROMA_VENV" >>"$out" 2>&1 || { tail -n 20 "$out" >&2; die "python3 -m venv $CHROMA_VENV failed"; }
  "$CHROMA_VENV/bin/pip" install -q --disable-pip-version-check "chromadb==$CHROMA_VERSION" 9>&- </dev/null >>"$out" 2>&1 || {
    tail -n 30 "$out" >&2
    die "pip install chromadb==$CHROMA_VERSION failed"
  }
}

chroma_version() { "$CHROMA_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("chromadb"))' 2>/dev/null; }

chroma_ready() { "$CHROMA_VENV/bin/python" -c 'import sys, urllib.request; sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=2).status == 200 else 1)' "http://$HOST:$1/api/v2/heartbeat"; }

chroma_start() {
  local d="$STATE/chroma"
  mkdir -p "$d/data"
  # Telemetry off: tests must not call home.
  ANONYMIZED_TELEMETRY=False spawn "$d/chroma.pid" "$d/chroma.out" "$CHROMA_VENV/bin/chroma" run --host "$HOST" --port "$CHROMA_PORT" --path "$d/data"
  wait_ready chroma "${START_TIMEOUT:-60}" chroma_ready "$CHROMA_PORT"
}

# ----------------------------------------------------------------------------------------------
# generic start / stop / status / env

url_of() {
  local svc=$1 port
  port="$(port_of "$svc")"
  case $svc in
    redis) echo "redis://$HOST:$port" ;;
    nats) echo "nats://$HOST:$port" ;;
    kafka) echo "kafka://$HOST:$port" ;;
    chroma) echo "http://$HOST:$port" ;;
  esac
}

# env_lines SERVICE: the export lines for one service.
env_lines() {
  local svc=$1 port
  port="$(port_of "$svc")"
  case $svc in
    redis) echo "export WOODWORK_TEST_REDIS_URL=redis://$HOST:$port" ;;
    nats)
      local mport="$NATS_MONITOR_PORT"
      [[ -s $STATE/nats/monitor_port ]] && pid_of nats >/dev/null && mport="$(<"$STATE/nats/monitor_port")"
      echo "export WOODWORK_TEST_NATS_URL=nats://$HOST:$port"
      echo "export WOODWORK_TEST_NATS_MONITOR_URL=http://$HOST:$mport"
      ;;
    kafka)
      echo "export WOODWORK_TEST_KAFKA_URL=kafka://$HOST:$port"
      echo "export WOODWORK_TEST_KAFKA_BROKERS=$HOST:$port"
      ;;
    chroma)
      echo "export WOODWORK_TEST_CHROMA_URL=http://$HOST:$port"
      echo "export WOODWORK_TEST_CHROMA_PROGRAM=$CHROMA_VENV/bin/chroma"
      ;;
  esac
}

version_of() {
  case $1 in
    redis) command -v redis-server >/dev/null 2>&1 && redis_version ;;
    nats) [[ -x "$(nats_running_bin)" ]] && nats_version ;;
    kafka) kafka_version ;;
    chroma) chroma_version ;;
  esac
  return 0
}

install_one() {
  local svc=$1 t0
  t0="$(now)"
  case $svc in
    redis) redis_install ;;
    nats) nats_install ;;
    kafka) kafka_install ;;
    chroma) chroma_install ;;
  esac
  INSTALL_TIME="$(since "$t0")"
}

start_one() {
  local svc=$1 pid t0 port
  port="$(configured_port "$svc")"
  if pid="$(pid_of "$svc")"; then
    local running_port
    running_port="$(port_of "$svc")"
    if [[ $running_port != "$port" ]]; then
      die "$svc is already running on port $running_port (pid $pid), not $port: run 'tools/services.sh stop $svc' first"
    fi
    t0="$(now)"
    case $svc in
      redis) wait_ready redis "${START_TIMEOUT:-30}" redis_ready "$port" ;;
      nats) wait_ready nats "${START_TIMEOUT:-30}" nats_ready "$port" "$(<"$STATE/nats/monitor_port")" ;;
      kafka) wait_ready kafka "${START_TIMEOUT:-120}" kafka_ready "$port" ;;
      chroma) wait_ready chroma "${START_TIMEOUT:-60}" chroma_ready "$port" ;;
    esac
    log "$svc already running (pid $pid) at $(url_of "$svc")"
    return 0
  fi
  install_one "$svc"
  local install_time=$INSTALL_TIME
  if port_open "$port"; then
    die "port $port is taken by another process, not our $svc: free it or set WOODWORK_${svc^^}_PORT"
  fi
  if [[ $svc == kafka ]] && port_open "$KAFKA_CONTROLLER_PORT"; then
    die "port $KAFKA_CONTROLLER_PORT is taken: free it or set WOODWORK_KAFKA_CONTROLLER_PORT"
  fi
  if [[ $svc == nats ]] && port_open "$NATS_MONITOR_PORT"; then
    die "port $NATS_MONITOR_PORT is taken: free it or set WOODWORK_NATS_MONITOR_PORT"
  fi
  t0="$(now)"
  case $svc in
    redis) redis_start ;;
    nats) nats_start ;;
    kafka) kafka_start ;;
    chroma) chroma_start ;;
  esac
  echo "$port" >"$STATE/$svc/port"
  log "$svc $(version_of "$svc") ready at $(url_of "$svc") (pid $(pid_of "$svc"); install check ${install_time}, start $(since "$t0"))"
}

stop_one() {
  local svc=$1 pid secs
  if ! pid="$(pid_of "$svc")"; then
    rm -f "$STATE/$svc/$svc.pid"
    return 0
  fi
  case $svc in
    kafka) secs="${STOP_TIMEOUT:-60}" ;;
    *) secs="${STOP_TIMEOUT:-15}" ;;
  esac
  local t0
  t0="$(now)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + secs))
  while [[ -d /proc/$pid ]] && [[ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" != Z ]]; do
    if ((SECONDS >= deadline)); then
      log "$svc (pid $pid) still running after ${secs}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
      break
    fi
    sleep 0.1
  done
  rm -f "$STATE/$svc/$svc.pid"
  log "$svc stopped (pid $pid, $(since "$t0"))"
}

cmd_start() {
  local fresh=0 args=() a
  for a in "$@"; do
    case $a in
      --fresh) fresh=1 ;;
      *) args+=("$a") ;;
    esac
  done
  parse_names "${args[@]+"${args[@]}"}"
  take_lock
  local svc t0
  t0="$(now)"
  if ((fresh)); then
    for svc in "${NAMES[@]}"; do
      stop_one "$svc"
      rm -rf "${STATE:?}/$svc"
    done
  fi
  for svc in "${NAMES[@]}"; do start_one "$svc"; done
  ((${#NAMES[@]} > 1)) && log "all up in $(since "$t0")"
  for svc in "${NAMES[@]}"; do env_lines "$svc"; done
}

cmd_install() {
  parse_names "$@"
  take_lock
  local svc
  for svc in "${NAMES[@]}"; do
    install_one "$svc"
    log "$svc $(version_of "$svc") installed (${INSTALL_TIME})"
  done
}

cmd_stop() {
  local clean=0 args=() a
  for a in "$@"; do
    case $a in
      --clean) clean=1 ;;
      *) args+=("$a") ;;
    esac
  done
  parse_names "${args[@]+"${args[@]}"}"
  [[ -d $STATE ]] || return 0
  take_lock
  local svc
  for svc in "${NAMES[@]}"; do
    stop_one "$svc"
    if ((clean)); then
      rm -rf "${STATE:?}/$svc"
      log "$svc state wiped"
    fi
  done
}

cmd_restart() {
  parse_names "$@"
  take_lock
  local svc
  for svc in "${NAMES[@]}"; do stop_one "$svc"; done
  for svc in "${NAMES[@]}"; do start_one "$svc"; done
  for svc in "${NAMES[@]}"; do env_lines "$svc"; done
}

cmd_status() {
  parse_names "$@"
  local svc pid rc=0
  for svc in "${NAMES[@]}"; do
    if pid="$(pid_of "$svc")"; then
      printf '%-6s running  pid %-7s %-24s %s\n' "$svc" "$pid" "$(url_of "$svc")" "$(version_of "$svc")"
    else
      printf '%-6s stopped  %-11s %-24s %s\n' "$svc" "" "$(url_of "$svc")" "$(version_of "$svc")"
      rc=3
    fi
  done
  return $rc
}

cmd_env() {
  local all=0 json=0 a svc
  for a in "$@"; do
    case $a in
      --all) all=1 ;;
      --json) json=1 ;;
      *) die "env takes --all and --json, not '$a'" ;;
    esac
  done
  local lines=()
  for svc in "${ALL_SERVICES[@]}"; do
    if ((all)) || pid_of "$svc" >/dev/null; then
      mapfile -t -O "${#lines[@]}" lines < <(env_lines "$svc")
    elif ((!json)); then
      lines+=("# $svc is not running (tools/services.sh start $svc)")
    fi
  done
  if ((json)); then
    local out="{" sep="" l kv
    for l in "${lines[@]+"${lines[@]}"}"; do
      kv="${l#export }"
      out+="$sep\"${kv%%=*}\":\"${kv#*=}\""
      sep=","
    done
    echo "$out}"
  else
    ((${#lines[@]})) && printf '%s\n' "${lines[@]}"
  fi
  return 0
}

# kafka-class CLASS ARGS...: run a class from the cached Kafka jars, e.g. the console tools:
#   tools/services.sh kafka-class org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:9093 --list
cmd_kafka_class() {
  [[ $# -ge 1 ]] || die "usage: tools/services.sh kafka-class <main class> [args...]"
  [[ -f $KAFKA_HOME/.complete ]] || (take_lock && kafka_install)
  mkdir -p "$STATE/kafka/logs"
  "$(java_bin)" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dlog4j2.configurationFile="$HERE/kafka/log4j2.xml" -Dkafka.logs.dir="$STATE/kafka/logs/tools" \
    -cp "$KAFKA_HOME/libs/*" "$@"
}

cmd_logs() {
  [[ $# -ge 1 ]] || die "usage: tools/services.sh logs <name> [lines]"
  is_known "$1" || die "unknown service '$1'"
  local f
  f="$(log_file "$1")"
  [[ -f $f ]] || die "no log yet: $f"
  tail -n "${2:-100}" "$f"
}

usage() {
  sed -n '2,/^set /{/^#/p}' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

main() {
  local sub="${1:-}"
  [[ $# -gt 0 ]] && shift
  case $sub in
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    restart) cmd_restart "$@" ;;
    status) cmd_status "$@" ;;
    env) cmd_env "$@" ;;
    install) cmd_install "$@" ;;
    logs) cmd_logs "$@" ;;
    kafka-class) cmd_kafka_class "$@" ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
