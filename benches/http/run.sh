#!/usr/bin/env bash
# Token endpoint load test: opkit's example server against node-oidc-provider, on loopback,
# same grants (client_credentials, and refresh_token with rotation; client_secret_basic), same
# token format (ES256 JWT access token; for refresh, an ES256 ID token too), same load (wrk,
# keep-alive, 16 connections). opkit runs on each store in STORES; node-oidc-provider on its
# in-memory adapter. opkit serves through the public `opkit_axum::serve` (the example calls
# it). See benches/http/README.md.
#
#   benches/http/run.sh            # from the repository root (or anywhere)
#
# By default the kernel places everything, as each server would run on this machine: node-oidc-
# provider as one process, opkit's example with one worker per core, wrk (one thread) beside
# them. PIN=1 is the per-core view: each server pinned to one core (SERVER_CPU), opkit with one
# worker (--workers 1), wrk pinned to another core (WRK_CPU).
#
# Environment: DURATION (default 15s), CONNECTIONS (16), THREADS (wrk threads, 1), WARMUP
# (10s), PIN (0), SERVER_CPU (0), WRK_CPU (1), OPKIT_WORKERS (1 when pinned, else one per
# core), OPKIT_PORT (38080), NODE_PORT (38081), PG_PORT (38082), OIDC_PROVIDER_VERSION (latest),
# STORES (memory sqlite postgres), DATABASE_URL (a PostgreSQL database to use instead of a
# throwaway cluster),
# KEEP_NODE_DIR=1, SERVER_LOG (where the opkit server's stderr goes; default /dev/null).
set -euo pipefail

DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-1}
WARMUP=${WARMUP:-10s}
PIN=${PIN:-0}
SERVER_CPU=${SERVER_CPU:-0}
WRK_CPU=${WRK_CPU:-1}
OPKIT_PORT=${OPKIT_PORT:-38080}
NODE_PORT=${NODE_PORT:-38081}
PG_PORT=${PG_PORT:-38082}
STORES=${STORES:-memory sqlite postgres}
OIDC_PROVIDER_VERSION=${OIDC_PROVIDER_VERSION:-latest}
HOST=127.0.0.1 # loopback only

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LUA="$HERE/token.lua"

PIDS=()
NODE_DIR=""
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n "$NODE_DIR" && "${KEEP_NODE_DIR:-0}" != 1 ]]; then
        rm -rf "$NODE_DIR"
    fi
}
trap cleanup EXIT

say() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

need() {
    local cmd=$1 pkg=${2:-$1}
    command -v "$cmd" >/dev/null 2>&1 && return 0
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        say "installing $pkg (apt-get)"
        apt-get install -y "$pkg" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y "$pkg" >/dev/null; }
    fi
    command -v "$cmd" >/dev/null 2>&1 || die "$cmd is required (apt-get install $pkg)"
}

need curl
need jq
need wrk
need node nodejs
need npm
need cargo

# Where each process runs: the servers on SERVER_CPU, wrk on WRK_CPU (taskset, inherited by
# every thread the process starts) with PIN=1, or wherever the kernel likes.
if [[ $PIN == 1 ]]; then
    need taskset util-linux
    [[ $SERVER_CPU != "$WRK_CPU" ]] || die "SERVER_CPU and WRK_CPU must differ"
    ON_SERVER_CPU=(taskset -c "$SERVER_CPU")
    ON_WRK_CPU=(taskset -c "$WRK_CPU")
    OPKIT_WORKERS=${OPKIT_WORKERS:-1}
else
    ON_SERVER_CPU=()
    ON_WRK_CPU=()
    OPKIT_WORKERS=${OPKIT_WORKERS:-}
fi

# Waits until GET $1 answers 200, for up to $2 seconds.
wait_http() {
    local url=$1 limit=$2 i
    for ((i = 0; i < limit * 10; i++)); do
        if curl -sf -o /dev/null "$url"; then return 0; fi
        sleep 0.1
    done
    return 1
}

# POSTs one token request and checks the answer is an ES256 JWT access token.
smoke() {
    local name=$1 base=$2 id=$3 secret=$4 scope=$5 body header
    body=$(curl -sS -u "$id:$secret" -d grant_type=client_credentials -d "scope=$scope" "$base/token")
    echo "$body" | jq -e '.access_token and .token_type == "Bearer"' >/dev/null ||
        die "$name: unexpected token response: $body"
    header=$(echo "$body" | jq -r '.access_token | split(".")[0]' | tr '_-' '/+')
    while (( ${#header} % 4 )); do header+="="; done
    header=$(echo "$header" | base64 -d 2>/dev/null)
    [[ $(echo "$header" | jq -r .alg) == ES256 ]] || die "$name: access token is not ES256: $header"
    printf '%s: %s\n' "$name" "$header" >&2
}

# CPU time (user + system, all threads) a process has used so far, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# Runs wrk against $1 and prints its RESULT line, with the CPU time the server $6 (a pid) used
# per request during the run (cpu_us) and the load average just before it (load1).
load() {
    local base=$1 id=$2 secret=$3 scope=$4 duration=$5 pid=$6 out before after load1 requests
    load1=$(cut -d' ' -f1 /proc/loadavg)
    before=$(cpu_ticks "$pid")
    out=$(CLIENT_ID=$id CLIENT_SECRET=$secret SCOPE=$scope "${ON_WRK_CPU[@]}" \
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"$duration" --latency -s "$LUA" "$base")
    after=$(cpu_ticks "$pid")
    echo "$out" >&2
    requests=$(echo "$out" | grep '^RESULT ' | sed -E 's/.* requests=([0-9]+).*/\1/')
    echo "$(echo "$out" | grep '^RESULT ') load1=$load1 cpu_us=$(awk -v t=$((after - before)) \
        -v hz="$(getconf CLK_TCK)" -v n="$requests" 'BEGIN { printf "%.1f", n ? t / hz * 1e6 / n : 0 }')"
}

field() { sed -E "s/.* $1=([0-9.]+).*/\1/" <<<"$2"; }

# ---------------------------------------------------------------------------------------------
# A throwaway PostgreSQL cluster of the system's binaries (Debian keeps them in
# /usr/lib/postgresql/<version>/bin), unless DATABASE_URL names a database to use.
PG_DIR=""
start_postgres() {
    if [[ -n ${DATABASE_URL:-} ]]; then PG_URL=$DATABASE_URL; return 0; fi
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [[ -x $bin/initdb ]] || die "no PostgreSQL binaries in /usr/lib/postgresql/*/bin (set DATABASE_URL or STORES)"
    PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/opkit-bench-pg.XXXXXX")
    local as=()
    if [[ $(id -u) == 0 ]]; then chown postgres "$PG_DIR"; as=(runuser -u postgres --); fi
    "${as[@]}" "$bin/initdb" -D "$PG_DIR/data" -U opkit -A trust >/dev/null
    "${as[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w start \
        -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=200" >/dev/null
    PG_URL="postgres://opkit@127.0.0.1:$PG_PORT/postgres"
    PG_STOP=("${as[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -m fast stop)
}
stop_postgres() {
    if [[ -n $PG_DIR ]]; then "${PG_STOP[@]}" >/dev/null 2>&1 || true; rm -rf "$PG_DIR"; PG_DIR=""; fi
}
trap 'stop_postgres; cleanup' EXIT

# Runs wrk with refresh.lua (tokens in $4) against $1 and prints its RESULT line as load does.
load_refresh() {
    local base=$1 id=$2 secret=$3 tokens=$4 duration=$5 pid=$6 out before after load1 requests
    load1=$(cut -d' ' -f1 /proc/loadavg)
    before=$(cpu_ticks "$pid")
    out=$(CLIENT_ID=$id CLIENT_SECRET=$secret REFRESH_TOKENS=$tokens NTHREADS=$THREADS \
        "${ON_WRK_CPU[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$duration" --latency \
        -s "$HERE/refresh.lua" "$base")
    after=$(cpu_ticks "$pid")
    echo "$out" >&2
    requests=$(echo "$out" | grep '^RESULT ' | sed -E 's/.* requests=([0-9]+).*/\1/')
    echo "$(echo "$out" | grep '^RESULT ') load1=$load1 cpu_us=$(awk -v t=$((after - before)) \
        -v hz="$(getconf CLK_TCK)" -v n="$requests" 'BEGIN { printf "%.1f", n ? t / hz * 1e6 / n : 0 }')"
}

# Refresh tokens to load with: four per connection, so a connection never waits for one.
TOKENS_PER_RUN=$((CONNECTIONS * 4))

say "building the opkit example server (release)"
(cd "$ROOT" && cargo build --release --example server >&2)
SERVER="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/server"
ADMIN_TOKEN=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
BENCH_PASSWORD=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
SERVER_LOG=${SERVER_LOG:-/dev/null}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/opkit-bench.XXXXXX")

# Starts the example on store $1 (memory | sqlite | postgres), creates the two clients, mints
# the refresh tokens for the refresh runs (password grant), and smoke-tests it.
start_opkit() {
    local store=$1 arg
    case $store in
        memory) arg=memory ;;
        sqlite) arg="sqlite:$WORK/sqlite/opkit.db" ;;
        postgres) start_postgres; arg=$PG_URL ;;
        *) die "unknown store $store (memory, sqlite, postgres)" ;;
    esac
    # The example writes one access-log line per request to stderr (a write(2) each), which
    # node-oidc-provider does not do: --quiet switches it off.
    local args=(--addr "$HOST:$OPKIT_PORT" --admin-token "$ADMIN_TOKEN" --quiet --store "$arg"
        --password-grant --user "bench:$BENCH_PASSWORD")
    [[ -z $OPKIT_WORKERS ]] || args+=(--workers "$OPKIT_WORKERS")
    "${ON_SERVER_CPU[@]}" "$SERVER" "${args[@]}" >"$WORK/opkit-$store.out" 2>"$SERVER_LOG" &
    OPKIT_PID=$!
    PIDS+=("$OPKIT_PID")
    OPKIT=http://$HOST:$OPKIT_PORT
    wait_http "$OPKIT/.well-known/openid-configuration" 120 ||
        die "the opkit server did not come up; see $WORK/opkit-$store.out (and rerun with SERVER_LOG=/tmp/opkit-server.log)"
    local client
    client=$(curl -sS -X POST "$OPKIT/clients" \
        -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \
        -d '{"name":"load test","redirect_uris":[],"grant_types":["client_credentials"],
             "token_endpoint_auth_method":"client_secret_basic",
             "id_token_signed_response_alg":"ES256","allowed_scopes":["api:read"]}')
    OPKIT_ID=$(echo "$client" | jq -er .client_id) || die "client creation failed: $client"
    OPKIT_SECRET=$(echo "$client" | jq -er .client_secret) || die "client creation failed: $client"
    smoke "opkit ($store)" "$OPKIT" "$OPKIT_ID" "$OPKIT_SECRET" api:read
    client=$(curl -sS -X POST "$OPKIT/clients" \
        -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \
        -d '{"name":"refresh load test","redirect_uris":[],"grant_types":["password","refresh_token"],
             "token_endpoint_auth_method":"client_secret_basic","id_token_signed_response_alg":"ES256"}')
    OPKIT_RID=$(echo "$client" | jq -er .client_id) || die "client creation failed: $client"
    OPKIT_RSECRET=$(echo "$client" | jq -er .client_secret) || die "client creation failed: $client"
}

# Mints $2 refresh tokens of the running example into file $1 (one password grant each).
mint_opkit() {
    local file=$1 n=$2 i
    : >"$file"
    for ((i = 0; i < n; i++)); do
        curl -sS -u "$OPKIT_RID:$OPKIT_RSECRET" -d grant_type=password -d username=bench \
            --data-urlencode "password=$BENCH_PASSWORD" -d "scope=openid offline_access" \
            "$OPKIT/token" | jq -er .refresh_token >>"$file" || die "opkit: no refresh token"
    done
}

stop_opkit() {
    kill "$OPKIT_PID" 2>/dev/null || true
    wait "$OPKIT_PID" 2>/dev/null || true
    [[ $1 != postgres ]] || stop_postgres
}

# ---------------------------------------------------------------------------------------------
say "installing oidc-provider@$OIDC_PROVIDER_VERSION (npm, temporary directory)"
NODE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/opkit-node-op.XXXXXX")
(cd "$NODE_DIR" && npm init -y >/dev/null &&
    npm install --no-audit --no-fund --loglevel=error "oidc-provider@$OIDC_PROVIDER_VERSION" >&2)
cp "$HERE/node_provider.mjs" "$NODE_DIR/"
NODE_ID=load-test
NODE_SECRET=$(head -c 32 /dev/urandom | base64 | tr -d '/+=')
(cd "$NODE_DIR" && NODE_ENV=production exec "${ON_SERVER_CPU[@]}" node node_provider.mjs \
    "$NODE_PORT" "$NODE_ID" "$NODE_SECRET") >"${TMPDIR:-/tmp}/node-op.log" 2>&1 &
NODE_PID=$!
PIDS+=("$NODE_PID")
NODEOP=http://$HOST:$NODE_PORT
wait_http "$NODEOP/.well-known/openid-configuration" 60 ||
    die "node-oidc-provider did not come up; see ${TMPDIR:-/tmp}/node-op.log"
smoke node-oidc-provider "$NODEOP" "$NODE_ID" "$NODE_SECRET" api:read

# ---------------------------------------------------------------------------------------------
if [[ $PIN == 1 ]]; then
    PLACEMENT="servers pinned to cpu $SERVER_CPU, wrk to cpu $WRK_CPU (taskset); opkit --workers $OPKIT_WORKERS"
else
    PLACEMENT="not pinned; opkit --workers ${OPKIT_WORKERS:-(one per core)}"
fi
RESULTS=()
check() { [[ $(field errors "$1") == 0 && $(field non2xx "$1") == 0 ]] || die "errors during the run: $1"; }

say "node-oidc-provider: warm-up ($WARMUP; V8 needs it to optimise), then both grants"
load "$NODEOP" "$NODE_ID" "$NODE_SECRET" api:read "$WARMUP" "$NODE_PID" >/dev/null
r=$(load "$NODEOP" "$NODE_ID" "$NODE_SECRET" api:read "$DURATION" "$NODE_PID"); check "$r"
RESULTS+=("node-oidc-provider|client_credentials|$r")
curl -sf "$NODEOP/bench/mint?n=$TOKENS_PER_RUN" >"$WORK/node-warm.txt" || die "node: minting failed"
load_refresh "$NODEOP" "$NODE_ID-refresh" "$NODE_SECRET" "$WORK/node-warm.txt" "$WARMUP" "$NODE_PID" >/dev/null
curl -sf "$NODEOP/bench/mint?n=$TOKENS_PER_RUN" >"$WORK/node.txt" || die "node: minting failed"
r=$(load_refresh "$NODEOP" "$NODE_ID-refresh" "$NODE_SECRET" "$WORK/node.txt" "$DURATION" "$NODE_PID"); check "$r"
RESULTS+=("node-oidc-provider|refresh_token|$r")

for store in $STORES; do
    say "opkit on $store: warm-up ($WARMUP), then both grants"
    start_opkit "$store"
    load "$OPKIT" "$OPKIT_ID" "$OPKIT_SECRET" api:read "$WARMUP" "$OPKIT_PID" >/dev/null
    r=$(load "$OPKIT" "$OPKIT_ID" "$OPKIT_SECRET" api:read "$DURATION" "$OPKIT_PID"); check "$r"
    RESULTS+=("opkit $store|client_credentials|$r")
    mint_opkit "$WORK/opkit-warm.txt" "$TOKENS_PER_RUN"
    load_refresh "$OPKIT" "$OPKIT_RID" "$OPKIT_RSECRET" "$WORK/opkit-warm.txt" "$WARMUP" "$OPKIT_PID" >/dev/null
    mint_opkit "$WORK/opkit.txt" "$TOKENS_PER_RUN"
    r=$(load_refresh "$OPKIT" "$OPKIT_RID" "$OPKIT_RSECRET" "$WORK/opkit.txt" "$DURATION" "$OPKIT_PID"); check "$r"
    RESULTS+=("opkit $store|refresh_token|$r")
    stop_opkit "$store"
done

say "result"
NODE_VERSION=$(node --version)
OP_VERSION=$(jq -r .version "$NODE_DIR/node_modules/oidc-provider/package.json")
rps_of() { # server grant
    local entry
    for entry in "${RESULTS[@]}"; do
        IFS='|' read -r n g r <<<"$entry"
        if [[ $n == "$1" && $g == "$2" ]]; then field rps "$r"; return; fi
    done
}
{
    echo "date:    $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
    echo "load:    wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency (keep-alive), loopback; $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
    echo "placing: $PLACEMENT"
    echo "node:    $NODE_VERSION, oidc-provider $OP_VERSION (in-memory adapter)"
    echo
    printf '%-20s %-19s %9s %9s %9s %9s %12s %8s\n' server grant req/s p50 p90 p99 'cpu/request' load1
    for entry in "${RESULTS[@]}"; do
        IFS='|' read -r name grant r <<<"$entry"
        awk -v n="$name" -v g="$grant" -v rps="$(field rps "$r")" -v p50="$(field p50 "$r")" \
            -v p90="$(field p90 "$r")" -v p99="$(field p99 "$r")" -v cpu="$(field cpu_us "$r")" \
            -v l="$(field load1 "$r")" \
            'BEGIN { printf "%-20s %-19s %9.0f %7.2fms %7.2fms %7.2fms %10.1fus %8.2f\n", n, g, rps, p50 / 1000, p90 / 1000, p99 / 1000, cpu, l }'
    done
    echo
    for store in $STORES; do
        for grant in client_credentials refresh_token; do
            awk -v s="$store" -v g="$grant" -v a="$(rps_of "opkit $store" $grant)" \
                -v b="$(rps_of node-oidc-provider $grant)" \
                'BEGIN { printf "%-19s opkit on %-8s / node-oidc-provider (memory): %.1fx\n", g, s, a / b }'
        done
    done
    c=$(rps_of "opkit memory" client_credentials)
    if [[ -n $c ]]; then
        awk -v a="$c" -v b="$(rps_of node-oidc-provider client_credentials)" \
            'BEGIN { r = a / b; printf "client_credentials target (memory store, >= 10x): %s\n", (r >= 10 ? "met" : "NOT met") }'
    fi
    p=$(rps_of "opkit postgres" refresh_token)
    if [[ -n $p ]]; then
        awk -v a="$p" -v b="$(rps_of node-oidc-provider refresh_token)" \
            'BEGIN { printf "refresh on PostgreSQL faster than node-oidc-provider in memory: %s\n", (a > b ? "yes (target met)" : "NO (target missed)") }'
    fi
    echo "(cpu/request: the server process's CPU time, user + system, all threads, per request answered)"
}
rm -rf "$WORK"
