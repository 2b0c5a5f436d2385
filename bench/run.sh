#!/usr/bin/env bash
# referd's HTTP benchmark: POST /v1/customers and GET /v1/customers/{id} on a
# refer-a-friend program, POST /v1/partners and POST /v1/customers on an
# affiliate program, and POST /v1/transactions with a 30% commission rule, on
# referd (SQLite and PostgreSQL backends) against
# ceilings measured in the same run on the same machine (nginx returning a
# canned answer; pgbench doing single-row INSERTs). See bench/README.md and
# BENCHMARKS.md.
#
#   bench/run.sh                  # ROUNDS (3) interleaved rounds of DURATION (10s)
#   bench/run.sh --quick          # 1 round of 3s: smoke test
#   bench/run.sh --ceilings-only  # nginx + pgbench only (no referd build)
#   bench/run.sh --tracking       # only the tracking configs (bench/tracking.sh)
#   ROUNDS=5 DURATION=20s bench/run.sh
#   ONLY="affiliate transactions" bench/run.sh   # only these groups (customers, affiliate,
#                                                # transactions, tracking; + ceilings)
#   REFERD_BIN=path/to/referd bench/run.sh       # measure that binary (A/B), no build
#
# Results go to bench/out/<timestamp>/ (results.md, results.tsv, raw/).
# Traffic goes to 127.0.0.1 only. Every server this script starts is stopped
# on exit, on failure too.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"

usage() {
    sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CEILINGS_ONLY=""
TRACKING_ONLY=""
for arg in "$@"; do
    case "$arg" in
    --quick) ROUNDS=1 DURATION=3s ;;
    --ceilings-only) CEILINGS_ONLY=1 ;;
    --tracking) TRACKING_ONLY=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench/run.sh: unknown argument: $arg" >&2; usage >&2; exit 2 ;;
    esac
done

# Duration as wrk wants it (Ns / Nm) and in seconds for pgbench.
case "$DURATION" in
*[!0-9sm]* | "" | s | m) echo "bench/run.sh: DURATION must look like 10, 10s or 1m (got '$DURATION')" >&2; exit 2 ;;
*m) DURATION_SECONDS=$((${DURATION%m} * 60)) ;;
*s) DURATION_SECONDS=${DURATION%s} ;;
*) DURATION_SECONDS=$DURATION ;;
esac
if ! [[ "$DURATION_SECONDS" =~ ^[0-9]+$ ]] || ((DURATION_SECONDS < 1)); then
    echo "bench/run.sh: bad DURATION '$DURATION'" >&2
    exit 2
fi
DURATION="${DURATION_SECONDS}s"
if ! [[ "$ROUNDS" =~ ^[0-9]+$ ]] || ((ROUNDS < 1 || ROUNDS > 100)); then
    echo "bench/run.sh: ROUNDS must be 1..100 (got '$ROUNDS')" >&2
    exit 2
fi

HOST=127.0.0.1
# Overridable, so that two people can smoke-test on one machine without sharing a database.
NGINX_PORT=${BENCH_NGINX_PORT:-18081}
REFERD_PORT=${BENCH_REFERD_PORT:-18080}
PG_PORT=5432
PG_DB=${BENCH_PG_DB:-referd_bench}
PG_URL="postgres://postgres@$HOST:$PG_PORT/$PG_DB"
WRK_ARGS=(-t2 -c64 "-d$DURATION" --latency)
PGBENCH_ARGS=(-n -h "$HOST" -p "$PG_PORT" -U postgres -M prepared -c16 -j2 "-T$DURATION_SECONDS")
SEED_COUNT=1000
SEED_PREFIX=seed-
# Affiliate customers the transaction run buys for (keys TX_CUSTOMER_PREFIX1..SEED_COUNT).
TX_CUSTOMER_PREFIX=cust-

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT="$BENCH/out/$STAMP"
RAW="$OUT/raw"
TSV="$OUT/results.tsv"
CMDS="$OUT/commands.txt"
mkdir -p "$RAW"
: >"$CMDS"
printf 'config\tround\treq_per_s\tp50_ms\tp99_ms\tnon_2xx\tsocket_errors\n' >"$TSV"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

# shellcheck source=bench/tracking.sh
source "$BENCH/tracking.sh"

# record CMD...: append the exact command line to commands.txt (the API key
# is replaced by <api_key>).
record() {
    local line
    line=$(printf '%q ' "$@")
    if [[ -n "${API_KEY:-}" ]]; then
        line=${line//"$API_KEY"/<api_key>}
    fi
    printf '%s\n' "${line% }" >>"$CMDS"
}

# ------------------------------------------------------------- cleanup --

TMP=$(mktemp -d "${TMPDIR:-/tmp}/referd-bench.XXXXXX")
# nginx workers run unprivileged when started as root: let them traverse.
chmod 755 "$TMP"
NGINX_PREFIX="$TMP/nginx"
NGINX_CONF="$NGINX_PREFIX/nginx.conf"
NGINX_PID="$NGINX_PREFIX/nginx.pid"
REFERD_PID=""
CHILD_PID=""

# run_child OUTFILE CMD...: run a load generator in the background and wait
# for it, so that a signal reaches the traps at once (cleanup kills it).
run_child() {
    local out=$1 status=0
    shift
    "$@" >"$out" 2>&1 &
    CHILD_PID=$!
    wait "$CHILD_PID" || status=$?
    CHILD_PID=""
    return "$status"
}

stop_referd() {
    local pid=$REFERD_PID i
    [[ -n "$pid" ]] || return 0
    REFERD_PID=""
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 150; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "referd (pid $pid) ignored SIGTERM for 15s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

stop_nginx() {
    local pid i
    [[ -f "$NGINX_PID" ]] || return 0
    pid=$(cat "$NGINX_PID" 2>/dev/null || true)
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    kill -QUIT "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        sleep 1
    fi
    rm -f "$NGINX_PID"
}

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    local status=$?
    if [[ -n "$CHILD_PID" ]]; then
        kill -TERM "$CHILD_PID" 2>/dev/null || true
        wait "$CHILD_PID" 2>/dev/null || true
    fi
    stop_referd
    stop_nginx
    rm -rf "$TMP"
    if ((status != 0)); then
        log "FAILED (exit $status); partial outputs in $OUT"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --------------------------------------------------------------- tools --

port_busy() { timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" >/dev/null 2>&1; }

NGINX_BIN=$(command -v nginx || true)
[[ -z "$NGINX_BIN" && -x /usr/sbin/nginx ]] && NGINX_BIN=/usr/sbin/nginx

missing_pkgs=()
command -v wrk >/dev/null 2>&1 || missing_pkgs+=(wrk)
[[ -n "$NGINX_BIN" ]] || missing_pkgs+=(nginx)
command -v curl >/dev/null 2>&1 || missing_pkgs+=(curl)
{ command -v psql >/dev/null 2>&1 && command -v pgbench >/dev/null 2>&1; } || missing_pkgs+=(postgresql-client)
if ((${#missing_pkgs[@]} > 0)); then
    if [[ "$(id -u)" != 0 ]]; then
        die "missing ${missing_pkgs[*]}; install them (apt-get install ${missing_pkgs[*]}) or run as root"
    fi
    log "installing ${missing_pkgs[*]} with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_pkgs[@]}" >/dev/null
    NGINX_BIN=$(command -v nginx || true)
    [[ -z "$NGINX_BIN" && -x /usr/sbin/nginx ]] && NGINX_BIN=/usr/sbin/nginx
    [[ -n "$NGINX_BIN" ]] || die "nginx still not found after apt-get install"
fi

PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PG_PORT" -U postgres)
pg_isready -q -h "$HOST" -p "$PG_PORT" -t 5 >/dev/null 2>&1 ||
    die "no PostgreSQL answering at $HOST:$PG_PORT (the benchmark uses the machine's server, user postgres, trust auth)"

for port in "$NGINX_PORT" "$REFERD_PORT"; do
    port_busy "$port" && die "something already listens on $HOST:$port; stop it first"
done

# --------------------------------------------------------------- build --

BIN=""
if [[ -n "${REFERD_BIN:-}" && -z "$CEILINGS_ONLY" ]]; then
    # A given binary (an A/B run against another commit's build): no build.
    BIN=$REFERD_BIN
    [[ -x "$BIN" ]] || die "REFERD_BIN=$BIN is not an executable"
    record "REFERD_BIN=$BIN (not built by this run)"
elif [[ -z "$CEILINGS_ONLY" ]]; then
    log "building referd (release)"
    record cargo build --release -p referd
    if ! (cd "$ROOT" && cargo build --release -p referd) >"$RAW/build.log" 2>&1; then
        tail -n 30 "$RAW/build.log" >&2
        die "cargo build --release -p referd failed; see $RAW/build.log"
    fi
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/referd"
    [[ -x "$BIN" ]] || die "no binary at $BIN"
fi

# ------------------------------------------------------------ wrk + parse --

# parse_wrk FILE: "req_per_s p50_ms p99_ms non_2xx socket_errors"
parse_wrk() {
    awk '
        function ms(v) {
            if (v ~ /us$/) return v * 0.001
            if (v ~ /ms$/) return v + 0
            if (v ~ /m$/) return v * 60000
            if (v ~ /s$/) return v * 1000
            return v + 0
        }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        $1 == "Requests/sec:" { rps = $2 + 0 }
        /Non-2xx or 3xx responses:/ { non = $NF + 0 }
        /Socket errors:/ { gsub(/,/, ""); sock = $4 + $6 + $8 + $10 }
        END {
            if (rps == "") { print "NA NA NA NA NA"; exit }
            printf "%.2f %.3f %.3f %d %d\n", rps, p50, p99, non + 0, sock + 0
        }' "$1"
}

# settle: write dirty pages out and pause, so a measured run does not share the 2 cores with
# the kernel flushing what the run before it wrote (a POST run writes hundreds of MB; its
# writeback measurably slowed the GET run after it).
settle() {
    sync
    sleep "${SETTLE_SECONDS:-3}"
}

# run_wrk CONFIG ROUND SCRIPT URL SCRIPT_ARGS...: one measured wrk run.
run_wrk() {
    local config=$1 round=$2 script=$3 url=$4 file parsed
    shift 4
    settle
    file="$RAW/$config-r$round.txt"
    log "round $round: $config ($DURATION)"
    record wrk "${WRK_ARGS[@]}" -s "$script" "$url" -- "$@"
    run_child "$file" wrk "${WRK_ARGS[@]}" -s "$script" "$url" -- "$@" ||
        die "wrk failed for $config; see $file"
    parsed=$(parse_wrk "$file")
    # shellcheck disable=SC2086 # parsed is five words
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$config" "$round" $parsed >>"$TSV"
    log "  -> req/s p50_ms p99_ms non2xx sockerr: $parsed"
}

# ---------------------------------------------------------------- nginx --

# ~400 bytes, shaped like a refer-a-friend customer answer. No '$' or "'":
# it sits inside an nginx single-quoted string.
CANNED_CUSTOMER='{"data":{"id":"seed-1","email":"seed-1@example.com","name":"Ann","surname":"Lee","status":"active","referral_link":"https://bench.test?ref=x7k2m9qa","referral_code":"x7k2m9qa","referrals_count":0,"created_at":"2025-01-01T00:00:00.000000Z","updated_at":"2025-01-01T00:00:00.000000Z","deleted_at":null,"referrer":null,"tags":[],"metadata":{},"referral_links":[{"url":"https://bench.test?ref=x7k2m9qa"}]},"status":1}'

start_nginx() {
    mkdir -p "$NGINX_PREFIX/logs"
    cat >"$NGINX_CONF" <<EOF
# Generated by bench/run.sh: the HTTP ceiling (canned answers, no work).
worker_processes 2;
daemon on;
pid $NGINX_PID;
error_log $NGINX_PREFIX/logs/error.log warn;
events {
    worker_connections 1024;
}
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    client_body_temp_path $NGINX_PREFIX/client_body_temp;
    proxy_temp_path $NGINX_PREFIX/proxy_temp;
    fastcgi_temp_path $NGINX_PREFIX/fastcgi_temp;
    uwsgi_temp_path $NGINX_PREFIX/uwsgi_temp;
    scgi_temp_path $NGINX_PREFIX/scgi_temp;
    server {
        listen $HOST:$NGINX_PORT reuseport;
        location = /v1/customers {
            default_type application/json;
            return 201 '{"data":{"id":1},"status":1}';
        }
        location /v1/customers/ {
            default_type application/json;
            return 200 '$CANNED_CUSTOMER';
        }
$(tracking_nginx_locations)
    }
}
EOF
    tracking_nginx_static
    cp "$NGINX_CONF" "$RAW/nginx.conf"
    record "$NGINX_BIN" -c "$NGINX_CONF" -p "$NGINX_PREFIX" -e "$NGINX_PREFIX/logs/error.log"
    "$NGINX_BIN" -c "$NGINX_CONF" -p "$NGINX_PREFIX" -e "$NGINX_PREFIX/logs/error.log" ||
        die "nginx did not start"
    local i
    for ((i = 0; i < 100; i++)); do
        port_busy "$NGINX_PORT" && break
        sleep 0.1
    done
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' -m 5 -X POST -H 'Content-Type: application/json' \
        --data '{"id":"x"}' "http://$HOST:$NGINX_PORT/v1/customers" || true)
    [[ "$code" == 201 ]] || die "nginx POST check answered '$code', expected 201"
    NGINX_GET_BYTES=$(curl -s -o /dev/null -w '%{size_download}' -m 5 "http://$HOST:$NGINX_PORT/v1/customers/seed-1")
}

# --------------------------------------------------------------- referd --

API_KEY=""
REFERD_GET_BYTES=""

# prepare_db BACKEND ROUND: prints the database URL of a fresh, empty database.
prepare_db() {
    local backend=$1 round=$2 path
    case "$backend" in
    sqlite)
        path="$TMP/bench-r$round.db"
        rm -f "$path" "$path-wal" "$path-shm"
        printf 'sqlite:%s\n' "$path"
        ;;
    postgres)
        record "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)"
        "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >&2
        "${PSQL[@]}" -d postgres -c "CREATE DATABASE $PG_DB" >&2
        "${PSQL[@]}" -d postgres -c "CHECKPOINT" >&2
        printf '%s\n' "$PG_URL"
        ;;
    esac
}

# json_field NAME < JSON: the string value of a top-level field.
json_field() {
    if command -v jq >/dev/null 2>&1; then
        jq -er --arg f "$1" '.[$f]'
    elif command -v python3 >/dev/null 2>&1; then
        python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
    else
        tr -d '\n' | sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p"
    fi
}

# program_public_id < JSON: the program's public id in `programs create` output.
program_public_id() {
    if command -v jq >/dev/null 2>&1; then
        jq -er '.program.public_id'
    elif command -v python3 >/dev/null 2>&1; then
        python3 -c 'import json,sys; print(json.load(sys.stdin)["program"]["public_id"])'
    else
        tr -d '\n' | sed -n 's/.*"public_id"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p'
    fi
}

# first_reward_is AMOUNT < JSON: whether a transaction answer's rewards[0].amount is AMOUNT.
first_reward_is() {
    if command -v jq >/dev/null 2>&1; then
        jq -e --argjson a "$1" '.data.rewards[0].amount == $a' >/dev/null
    elif command -v python3 >/dev/null 2>&1; then
        python3 -c 'import json,sys; from decimal import Decimal as D
sys.exit(0 if D(str(json.load(sys.stdin)["data"]["rewards"][0]["amount"])) == D(sys.argv[1]) else 1)' "$1"
    else
        tr -d '\n' | grep -q "\"rewards\":\[{[^]]*\"amount\":$1[,}]"
    fi
}

start_referd() {
    local name=$1 url=$2 i
    port_busy "$REFERD_PORT" && die "$HOST:$REFERD_PORT is taken before starting referd"
    record "$BIN" serve --bind "$HOST:$REFERD_PORT" --database-url "$url"
    "$BIN" serve --bind "$HOST:$REFERD_PORT" --database-url "$url" >"$RAW/$name.log" 2>&1 &
    REFERD_PID=$!
    for ((i = 0; i < 300; i++)); do
        if ! kill -0 "$REFERD_PID" 2>/dev/null; then
            REFERD_PID=""
            tail -n 20 "$RAW/$name.log" >&2 || true
            die "referd serve exited during start-up; log: $RAW/$name.log"
        fi
        if curl -s -o /dev/null -m 1 "http://$HOST:$REFERD_PORT/v1/customers/none"; then
            return 0
        fi
        sleep 0.1
    done
    die "referd did not answer on $HOST:$REFERD_PORT within 30s; log: $RAW/$name.log"
}

# seed_customers: create SEED_PREFIX1..SEED_PREFIX$SEED_COUNT over one
# keep-alive connection (curl config with `next`).
seed_customers() {
    local cfg="$TMP/seed.curl" codes ok i
    {
        for ((i = 1; i <= SEED_COUNT; i++)); do
            ((i > 1)) && echo 'next'
            printf 'url = "http://%s:%s/v1/customers"\n' "$HOST" "$REFERD_PORT"
            printf 'header = "Authorization: Bearer %s"\n' "$API_KEY"
            printf 'header = "Content-Type: application/json"\n'
            printf 'data = "{\\"id\\":\\"%s%d\\",\\"email\\":\\"%s%d@example.com\\",\\"name\\":\\"Ann\\",\\"surname\\":\\"Lee\\"}"\n' \
                "$SEED_PREFIX" "$i" "$SEED_PREFIX" "$i"
            printf 'output = "/dev/null"\n'
            printf 'write-out = "%%{http_code}\\n"\n'
            printf 'max-time = 10\n'
        done
    } >"$cfg"
    codes=$(curl -s -K "$cfg" || true)
    ok=$(grep -c '^200$' <<<"$codes" || true)
    ((ok == SEED_COUNT)) || die "seeding: $ok of $SEED_COUNT POSTs answered 200 (codes: $(sort <<<"$codes" | uniq -c | tr '\n' ' '))"
}

# seed_affiliate_customers PARTNER_KEY: create affiliate customers with keys
# TX_CUSTOMER_PREFIX1..TX_CUSTOMER_PREFIX$SEED_COUNT, each attributed to the partner by
# `partner.key`, over one keep-alive connection (as seed_customers does).
seed_affiliate_customers() {
    local partner=$1 cfg="$TMP/seed-affiliate.curl" codes ok i
    {
        for ((i = 1; i <= SEED_COUNT; i++)); do
            ((i > 1)) && echo 'next'
            printf 'url = "http://%s:%s/v1/customers"\n' "$HOST" "$REFERD_PORT"
            printf 'header = "Authorization: Bearer %s"\n' "$API_KEY"
            printf 'header = "Content-Type: application/json"\n'
            printf 'data = "{\\"partner\\":{\\"key\\":\\"%s\\"},\\"key\\":\\"%s%d\\",\\"email\\":\\"%s%d@example.com\\",\\"name\\":\\"Ann\\",\\"surname\\":\\"Lee\\"}"\n' \
                "$partner" "$TX_CUSTOMER_PREFIX" "$i" "$TX_CUSTOMER_PREFIX" "$i"
            printf 'output = "/dev/null"\n'
            printf 'write-out = "%%{http_code}\\n"\n'
            printf 'max-time = 10\n'
        done
    } >"$cfg"
    codes=$(curl -s -K "$cfg" || true)
    ok=$(grep -c '^200$' <<<"$codes" || true)
    ((ok == SEED_COUNT)) || die "seeding affiliate customers: $ok of $SEED_COUNT POSTs answered 200 (codes: $(sort <<<"$codes" | uniq -c | tr '\n' ' '))"
}

# bench_referd BACKEND ROUND: fresh DB, program, server; POST run, seed, GET run.
bench_referd() {
    local backend=$1 round=$2 url out code name="referd-$1-r$2"
    url=$(prepare_db "$backend" "$round")
    record "$BIN" migrate --database-url "$url"
    "$BIN" migrate --database-url "$url" >"$RAW/$name-migrate.log" 2>&1 ||
        die "referd migrate failed; see $RAW/$name-migrate.log"
    record "$BIN" programs create --type referral --name Bench --website https://bench.test --database-url "$url"
    out=$("$BIN" programs create --type referral --name Bench --website https://bench.test \
        --database-url "$url" 2>"$RAW/$name-program.log") ||
        die "referd programs create failed; see $RAW/$name-program.log"
    printf '%s\n' "$out" >"$RAW/$name-program.json"
    API_KEY=$(printf '%s' "$out" | json_field api_key) || API_KEY=""
    [[ "$API_KEY" == rfd_* ]] || die "no api_key in: $out"

    start_referd "$name" "$url"

    code=$(curl -s -o "$RAW/$name-check-post.json" -w '%{http_code}' -m 10 -X POST \
        -H "Authorization: Bearer $API_KEY" -H 'Content-Type: application/json' \
        --data '{"id":"check-1","email":"check-1@example.com","name":"Ann","surname":"Lee"}' \
        "http://$HOST:$REFERD_PORT/v1/customers" || true)
    [[ "$code" == 200 ]] || die "check POST answered '$code' (expected 200): $(cat "$RAW/$name-check-post.json" 2>/dev/null)"

    seed_customers
    code=$(curl -s -o "$RAW/$name-check-get.json" -w '%{http_code}' -m 10 \
        -H "Authorization: Bearer $API_KEY" "http://$HOST:$REFERD_PORT/v1/customers/${SEED_PREFIX}1" || true)
    [[ "$code" == 200 ]] || die "check GET answered '$code' (expected 200): $(cat "$RAW/$name-check-get.json" 2>/dev/null)"
    REFERD_GET_BYTES=$(wc -c <"$RAW/$name-check-get.json" | tr -d ' ')

    if [[ "$backend" == postgres ]]; then
        "${PSQL[@]}" -d postgres -c CHECKPOINT >&2
    fi
    run_wrk "$backend-post" "$round" "$BENCH/post_customers.lua" \
        "http://$HOST:$REFERD_PORT/v1/customers" "r$round" "$API_KEY"
    sleep 1
    run_wrk "$backend-get" "$round" "$BENCH/get_customers.lua" \
        "http://$HOST:$REFERD_PORT/v1/customers/" "$SEED_PREFIX" "$SEED_COUNT" "$API_KEY"

    stop_referd
    API_KEY=""
    sleep 1
}

# bench_affiliate BACKEND ROUND: fresh DB, affiliate program, server; a POST
# /v1/partners run, then a POST /v1/customers run attributing every customer to
# one partner.
bench_affiliate() {
    local backend=$1 round=$2 url out code name="referd-$1-affiliate-r$2"
    url=$(prepare_db "$backend" "$round")
    record "$BIN" migrate --database-url "$url"
    "$BIN" migrate --database-url "$url" >"$RAW/$name-migrate.log" 2>&1 ||
        die "referd migrate failed; see $RAW/$name-migrate.log"
    record "$BIN" programs create --type affiliate --name Bench --website https://bench.test --database-url "$url"
    out=$("$BIN" programs create --type affiliate --name Bench --website https://bench.test \
        --database-url "$url" 2>"$RAW/$name-program.log") ||
        die "referd programs create failed; see $RAW/$name-program.log"
    API_KEY=$(printf '%s' "$out" | json_field api_key) || API_KEY=""
    [[ "$API_KEY" == rfd_* ]] || die "no api_key in: $out"

    start_referd "$name" "$url"
    code=$(curl -s -o "$RAW/$name-check-partner.json" -w '%{http_code}' -m 10 -X POST \
        -H "Authorization: Bearer $API_KEY" -H 'Content-Type: application/json' \
        --data '{"id":"bench-partner","key":"BENCHKEY","email":"bench-partner@example.com"}' \
        "http://$HOST:$REFERD_PORT/v1/partners" || true)
    [[ "$code" == 200 ]] || die "check partner POST answered '$code': $(cat "$RAW/$name-check-partner.json" 2>/dev/null)"
    code=$(curl -s -o "$RAW/$name-check-customer.json" -w '%{http_code}' -m 10 -X POST \
        -H "Authorization: Bearer $API_KEY" -H 'Content-Type: application/json' \
        --data '{"partner":{"key":"BENCHKEY"},"key":"check-1","email":"check-1@example.com"}' \
        "http://$HOST:$REFERD_PORT/v1/customers" || true)
    [[ "$code" == 200 ]] || die "check customer POST answered '$code': $(cat "$RAW/$name-check-customer.json" 2>/dev/null)"

    if [[ "$backend" == postgres ]]; then
        "${PSQL[@]}" -d postgres -c CHECKPOINT >&2
    fi
    run_wrk "$backend-partner-post" "$round" "$BENCH/post_partners.lua" \
        "http://$HOST:$REFERD_PORT/v1/partners" "r$round" "$API_KEY"
    sleep 1
    run_wrk "$backend-affiliate-post" "$round" "$BENCH/post_affiliate_customers.lua" \
        "http://$HOST:$REFERD_PORT/v1/customers" "r$round" "$API_KEY" BENCHKEY

    stop_referd
    API_KEY=""
    sleep 1
}

# bench_transactions BACKEND ROUND: fresh DB, affiliate program with a 30% commission rule,
# one partner, SEED_COUNT customers attributed to it, server; a POST /v1/transactions run
# (a unique 99.99 sale per request, for customers drawn at random from the seeded ones, so
# every request computes a reward and writes the transaction and its ledger entry).
bench_transactions() {
    local backend=$1 round=$2 url out code program rules name="referd-$1-transactions-r$2"
    url=$(prepare_db "$backend" "$round")
    record "$BIN" migrate --database-url "$url"
    "$BIN" migrate --database-url "$url" >"$RAW/$name-migrate.log" 2>&1 ||
        die "referd migrate failed; see $RAW/$name-migrate.log"
    record "$BIN" programs create --type affiliate --name Bench --website https://bench.test --database-url "$url"
    out=$("$BIN" programs create --type affiliate --name Bench --website https://bench.test \
        --database-url "$url" 2>"$RAW/$name-program.log") ||
        die "referd programs create failed; see $RAW/$name-program.log"
    API_KEY=$(printf '%s' "$out" | json_field api_key) || API_KEY=""
    [[ "$API_KEY" == rfd_* ]] || die "no api_key in: $out"
    program=$(printf '%s' "$out" | program_public_id) || program=""
    [[ -n "$program" ]] || die "no program public_id in: $out"

    rules="$TMP/rules-affiliate-30.json"
    printf '%s\n' '{"affiliate":{"commission":{"type":"percentage","value":30}}}' >"$rules"
    cp "$rules" "$RAW/rules-affiliate-30.json"
    record "$BIN" rules set --program "$program" --file "$rules" --database-url "$url"
    "$BIN" rules set --program "$program" --file "$rules" --database-url "$url" \
        >"$RAW/$name-rules.json" 2>"$RAW/$name-rules.log" ||
        die "referd rules set failed; see $RAW/$name-rules.log"

    start_referd "$name" "$url"
    code=$(curl -s -o "$RAW/$name-check-partner.json" -w '%{http_code}' -m 10 -X POST \
        -H "Authorization: Bearer $API_KEY" -H 'Content-Type: application/json' \
        --data '{"id":"bench-partner","key":"BENCHKEY","email":"bench-partner@example.com"}' \
        "http://$HOST:$REFERD_PORT/v1/partners" || true)
    [[ "$code" == 200 ]] || die "check partner POST answered '$code': $(cat "$RAW/$name-check-partner.json" 2>/dev/null)"
    seed_affiliate_customers BENCHKEY
    code=$(curl -s -o "$RAW/$name-check-transaction.json" -w '%{http_code}' -m 10 -X POST \
        -H "Authorization: Bearer $API_KEY" -H 'Content-Type: application/json' \
        --data "{\"key\":\"check-1\",\"amount\":99.99,\"action\":\"sale\",\"customer\":{\"key\":\"${TX_CUSTOMER_PREFIX}1\"}}" \
        "http://$HOST:$REFERD_PORT/v1/transactions" || true)
    [[ "$code" == 200 ]] || die "check transaction POST answered '$code' (expected 200): $(cat "$RAW/$name-check-transaction.json" 2>/dev/null)"
    first_reward_is 29.997 <"$RAW/$name-check-transaction.json" ||
        die "check transaction POST: rewards[0].amount is not 29.997: $(cat "$RAW/$name-check-transaction.json")"

    if [[ "$backend" == postgres ]]; then
        "${PSQL[@]}" -d postgres -c CHECKPOINT >&2
    fi
    run_wrk "$backend-transaction-post" "$round" "$BENCH/post_transactions.lua" \
        "http://$HOST:$REFERD_PORT/v1/transactions" "r$round" "$API_KEY" "$TX_CUSTOMER_PREFIX" "$SEED_COUNT"

    stop_referd
    API_KEY=""
    sleep 1
}

# -------------------------------------------------------------- pgbench --

bench_pgbench() {
    local round=$1
    if [[ "$("${PSQL[@]}" -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != 1 ]]; then
        "${PSQL[@]}" -d postgres -c "CREATE DATABASE $PG_DB" >&2
    fi
    "${PSQL[@]}" -d "$PG_DB" >&2 <<'SQL'
SET client_min_messages = warning;
DROP TABLE IF EXISTS pgbench_customers;
DROP SEQUENCE IF EXISTS pgbench_customer_seq;
CREATE SEQUENCE pgbench_customer_seq;
CREATE TABLE pgbench_customers (
    row_id     bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    program_id bigint NOT NULL,
    ext_id     text,
    key        text   NOT NULL,
    email      text,
    name       text,
    surname    text,
    created_at bigint NOT NULL
);
CREATE UNIQUE INDEX pgbench_customers_program_ext_id ON pgbench_customers (program_id, ext_id);
CREATE UNIQUE INDEX pgbench_customers_program_key    ON pgbench_customers (program_id, key);
CREATE UNIQUE INDEX pgbench_customers_program_email  ON pgbench_customers (program_id, email);
CHECKPOINT;
SQL
    run_pgbench pgbench-insert "$round" "$BENCH/pgbench_insert.sql"
    # Reads: what PostgreSQL alone serves for an indexed single-row SELECT (context for the
    # PostgreSQL GET figure; the table now holds the rows the insert run wrote).
    "${PSQL[@]}" -d "$PG_DB" -c "ANALYZE pgbench_customers" >&2
    run_pgbench pgbench-select "$round" "$BENCH/pgbench_select.sql"
}

# run_pgbench CONFIG ROUND SCRIPT: one measured pgbench run into the results table. pgbench
# gives no percentiles: its average latency goes in the p50 column.
run_pgbench() {
    local config=$1 round=$2 script=$3 file tps lat
    file="$RAW/$config-r$round.txt"
    settle
    log "round $round: $config (${DURATION_SECONDS}s)"
    record pgbench "${PGBENCH_ARGS[@]}" -f "$script" "$PG_DB"
    run_child "$file" pgbench "${PGBENCH_ARGS[@]}" -f "$script" "$PG_DB" ||
        die "pgbench failed; see $file"
    tps=$(awk '$1 == "tps" { print $3 + 0; exit }' "$file")
    lat=$(awk '/^latency average/ { print $4 + 0; exit }' "$file")
    [[ -n "$tps" ]] || die "no tps in $file"
    printf '%s\t%s\t%s\t%s\tNA\t0\t0\n' "$config" "$round" "$tps" "${lat:-NA}" >>"$TSV"
    log "  -> tps $tps, latency average ${lat:-?} ms"
}

# ------------------------------------------------------------------ run --

log "output: $OUT"
log "rounds: $ROUNDS x $DURATION; wrk ${WRK_ARGS[*]}"
# wanted GROUP: whether ONLY (space-separated groups) is empty or names GROUP.
wanted() { [[ -z "${ONLY:-}" || " $ONLY " == *" $1 "* ]]; }

start_nginx

for ((round = 1; round <= ROUNDS; round++)); do
    echo "# round $round" >>"$CMDS"
    tracking_nginx_round "$round"
    if [[ -n "$TRACKING_ONLY" ]]; then
        if [[ -z "$CEILINGS_ONLY" ]]; then
            bench_tracking sqlite "$round"
            bench_tracking postgres "$round"
        fi
        continue
    fi
    run_wrk nginx-post "$round" "$BENCH/post_customers.lua" \
        "http://$HOST:$NGINX_PORT/v1/customers" "r$round" ""
    sleep 1
    run_wrk nginx-get "$round" "$BENCH/get_customers.lua" \
        "http://$HOST:$NGINX_PORT/v1/customers/" "$SEED_PREFIX" "$SEED_COUNT" ""
    sleep 1
    if [[ -z "$CEILINGS_ONLY" ]]; then
        if wanted customers; then
            bench_referd sqlite "$round"
            bench_referd postgres "$round"
        fi
        if wanted affiliate; then
            bench_affiliate sqlite "$round"
            bench_affiliate postgres "$round"
        fi
        if wanted transactions; then
            bench_transactions sqlite "$round"
            bench_transactions postgres "$round"
        fi
        if wanted tracking; then
            bench_tracking sqlite "$round"
            bench_tracking postgres "$round"
        fi
    fi
    bench_pgbench "$round"
    sleep 1
done

stop_nginx

# -------------------------------------------------------------- report --

# median CONFIG: the row (of results.tsv) of the median round by req/s
# (the lower middle one for an even number of rounds).
median() {
    awk -F '\t' -v c="$1" '$1 == c' "$TSV" | sort -t "$(printf '\t')" -k3,3g |
        awk -v n="$ROUNDS" 'NR == int((n + 1) / 2)'
}
field() { cut -f "$2" <<<"$1"; }
all_rounds() {
    awk -F '\t' -v c="$1" '$1 == c { printf "%s%s", sep, $3; sep = ", " }' "$TSV"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "NA"; else printf "%.3f", a / b }'; }
at_least() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "NA" || a == "") print "n/a"; else if (a + 0 >= b + 0) print "yes"; else print "**no**" }'; }
at_most() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "NA" || a == "") print "n/a"; else if (a + 0 <= b + 0) print "yes"; else print "**no**" }'; }

declare -A RPS P50 P99 ERRS
CONFIGS=(nginx-post sqlite-post postgres-post pgbench-insert nginx-get sqlite-get postgres-get pgbench-select
    sqlite-partner-post postgres-partner-post sqlite-affiliate-post postgres-affiliate-post
    sqlite-transaction-post postgres-transaction-post "${TRACKING_CONFIGS[@]}")
for c in "${CONFIGS[@]}"; do
    row=$(median "$c")
    if [[ -z "$row" ]]; then
        RPS[$c]="" P50[$c]="" P99[$c]="" ERRS[$c]=""
        continue
    fi
    RPS[$c]=$(field "$row" 3)
    P50[$c]=$(field "$row" 4)
    P99[$c]=$(field "$row" 5)
    ERRS[$c]=$(awk -F '\t' -v c="$c" '$1 == c { s += $6 + $7 } END { print s + 0 }' "$TSV")
done

describe() {
    case "$1" in
    nginx-post) echo "nginx canned 201, POST /v1/customers (ceiling)" ;;
    sqlite-post) echo "referd + SQLite, POST /v1/customers" ;;
    postgres-post) echo "referd + PostgreSQL, POST /v1/customers" ;;
    pgbench-insert) echo "pgbench single-row INSERT, tps (ceiling)" ;;
    nginx-get) echo "nginx canned 200, GET /v1/customers/{id} (ceiling)" ;;
    sqlite-get) echo "referd + SQLite, GET /v1/customers/{id}" ;;
    postgres-get) echo "referd + PostgreSQL, GET /v1/customers/{id}" ;;
    pgbench-select) echo "pgbench single-row indexed SELECT, tps (PostgreSQL read ceiling)" ;;
    sqlite-partner-post) echo "referd + SQLite, POST /v1/partners (affiliate)" ;;
    postgres-partner-post) echo "referd + PostgreSQL, POST /v1/partners (affiliate)" ;;
    sqlite-affiliate-post) echo "referd + SQLite, POST /v1/customers (affiliate, partner.key)" ;;
    postgres-affiliate-post) echo "referd + PostgreSQL, POST /v1/customers (affiliate, partner.key)" ;;
    sqlite-transaction-post) echo "referd + SQLite, POST /v1/transactions (affiliate, 30% commission)" ;;
    postgres-transaction-post) echo "referd + PostgreSQL, POST /v1/transactions (affiliate, 30% commission)" ;;
    *) tracking_describe "$1" ;;
    esac
}

r_sqlite_post=$(ratio "${RPS[sqlite-post]}" "${RPS[nginx-post]}")
r_pg_post=$(ratio "${RPS[postgres-post]}" "${RPS[pgbench-insert]}")
r_sqlite_get=$(ratio "${RPS[sqlite-get]}" "${RPS[nginx-get]}")
r_pg_get=$(ratio "${RPS[postgres-get]}" "${RPS[nginx-get]}")
r_pg_get_db=$(ratio "${RPS[postgres-get]}" "${RPS[pgbench-select]}")
r_pgbench_select=$(ratio "${RPS[pgbench-select]}" "${RPS[nginx-get]}")
sqlite_post_ok=$(at_least "$r_sqlite_post" 0.30)
r_sqlite_tx_customers=$(ratio "${RPS[sqlite-transaction-post]}" "${RPS[sqlite-affiliate-post]}")
r_pg_tx_customers=$(ratio "${RPS[postgres-transaction-post]}" "${RPS[postgres-affiliate-post]}")
sqlite_p99_ok=$(at_most "${P99[sqlite-post]:-NA}" 10)

git_rev=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null || true)" ]]; then
    git_rev="$git_rev (with uncommitted changes)"
fi
cpu_model=$(awk -F ': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
mem_total=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null || true)
pg_settings=$("${PSQL[@]}" -d postgres -Atc "SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ', ' ORDER BY name) FROM pg_settings WHERE name IN ('server_version', 'fsync', 'synchronous_commit', 'shared_buffers', 'max_connections', 'wal_level')" 2>/dev/null || echo unknown)

{
    echo "# referd benchmark, $STAMP"
    echo
    echo "## Machine"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "- git commit: $git_rev"
    echo "- nproc: $(nproc)"
    echo "- CPU: ${cpu_model:-unknown}"
    echo "- memory: ${mem_total:-unknown}"
    echo "- kernel: $(uname -sr)"
    echo "- $(rustc --version 2>/dev/null || echo 'rustc: unknown')"
    echo "- $(wrk -v 2>&1 | head -n 1 | sed 's/ \[.*//')"
    echo "- $("$NGINX_BIN" -v 2>&1 | head -n 1)"
    echo "- $(pgbench --version 2>&1 | head -n 1)"
    echo "- PostgreSQL server ($HOST:$PG_PORT): $pg_settings"
    echo "- rounds: $ROUNDS, interleaved; duration per run: $DURATION"
    echo "- GET answer size: nginx ${NGINX_GET_BYTES:-?} bytes, referd ${REFERD_GET_BYTES:-?} bytes"
    echo
    echo "## Results (median round by req/s)"
    echo
    echo "| configuration | req/s | p50 ms | p99 ms | every round, req/s | non-2xx + socket errors |"
    echo "| --- | ---: | ---: | ---: | --- | ---: |"
    for c in "${CONFIGS[@]}"; do
        [[ -n "${RPS[$c]}" ]] || continue
        p50=${P50[$c]} p99=${P99[$c]}
        if [[ "$c" == pgbench-* ]]; then
            p50="avg ${p50}" p99="–"
        fi
        printf '| %s | %s | %s | %s | %s | %s |\n' "$(describe "$c")" "${RPS[$c]}" "$p50" "$p99" "$(all_rounds "$c")" "${ERRS[$c]}"
    done
    echo
    echo "## Ratios (medians of this run)"
    echo
    echo "| ratio | value | target | met |"
    echo "| --- | ---: | --- | --- |"
    echo "| SQLite POST / nginx POST | $r_sqlite_post | ≥ 0.30 | $sqlite_post_ok |"
    echo "| SQLite POST p99 | ${P99[sqlite-post]:-NA} ms | ≤ 10 ms | $sqlite_p99_ok |"
    echo "| PostgreSQL POST / pgbench INSERT tps | $r_pg_post | ≥ 1.0 | $(at_least "$r_pg_post" 1.0) |"
    echo "| SQLite GET / nginx GET | $r_sqlite_get | ≥ 0.5 | $(at_least "$r_sqlite_get" 0.5) |"
    echo "| PostgreSQL GET / nginx GET | $r_pg_get | ≥ 0.5 | $(at_least "$r_pg_get" 0.5) |"
    echo "| (context) pgbench SELECT tps / nginx GET | $r_pgbench_select | – | – |"
    echo "| (context) PostgreSQL GET / pgbench SELECT tps | $r_pg_get_db | – | – |"
    echo "| (affiliate) SQLite POST partners / nginx POST | $(ratio "${RPS[sqlite-partner-post]}" "${RPS[nginx-post]}") | – | – |"
    echo "| (affiliate) SQLite POST customers / nginx POST | $(ratio "${RPS[sqlite-affiliate-post]}" "${RPS[nginx-post]}") | – | – |"
    echo "| (affiliate) PostgreSQL POST partners / pgbench INSERT tps | $(ratio "${RPS[postgres-partner-post]}" "${RPS[pgbench-insert]}") | – | – |"
    echo "| (affiliate) PostgreSQL POST customers / pgbench INSERT tps | $(ratio "${RPS[postgres-affiliate-post]}" "${RPS[pgbench-insert]}") | – | – |"
    echo "| (transactions) SQLite POST transactions / nginx POST | $(ratio "${RPS[sqlite-transaction-post]}" "${RPS[nginx-post]}") | – | – |"
    echo "| (transactions) PostgreSQL POST transactions / pgbench INSERT tps | $(ratio "${RPS[postgres-transaction-post]}" "${RPS[pgbench-insert]}") | – | – |"
    echo "| (transactions) SQLite POST transactions / SQLite POST customers (affiliate) | $r_sqlite_tx_customers | ≥ 0.5 | $(at_least "$r_sqlite_tx_customers" 0.5) |"
    echo "| (transactions) PostgreSQL POST transactions / PostgreSQL POST customers (affiliate) | $r_pg_tx_customers | ≥ 0.5 | $(at_least "$r_pg_tx_customers" 0.5) |"
    tracking_ratios
    echo
    echo "A run with non-2xx or socket errors against referd is not a valid measurement."
    echo "(The redirect's 302s count as successes in wrk.)"
    if [[ -f "$OUT/clicks.tsv" ]]; then
        echo
        echo "## Clicks stored (tracking runs)"
        echo
        echo '```'
        cat "$OUT/clicks.tsv"
        echo '```'
    fi
    echo
    echo "## Commands"
    echo
    echo "Every command as run, in order, is in \`commands.txt\`; raw outputs are in \`raw/\`. The measured ones (round 1):"
    echo
    echo '```'
    awk '/^# round 1$/ { on = 1; next } /^# round / { on = 0 } on && /^(wrk|pgbench|[^ ]*referd serve) /' "$CMDS" |
        sed "s#$ROOT/##g; s#$TMP#\$TMP#g"
    echo '```'
} >"$OUT/results.md"

echo
cat "$OUT/results.md"
echo
log "written: $OUT/results.md (raw outputs in $RAW)"
