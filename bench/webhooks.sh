#!/usr/bin/env bash
# referd's webhook delivery benchmark: events delivered per second to a local
# receiver (nginx answering 200 with an access log line per delivery).
#
#   bench/webhooks.sh                 # SQLite, events from 5s of POST /v1/customers
#   bench/webhooks.sh --quick         # 1s of events: smoke test
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/referd_bench bench/webhooks.sh
#   REFERD_BIN=target/debug/referd bench/webhooks.sh --quick   # skip the release build
#
# How: referd runs with its delivery worker off (REFERD_WEBHOOKS_WORKER=false)
# while wrk creates customers (one customer.created event each, one webhook);
# then referd restarts with the worker on and the clock runs until no delivery
# is pending. Rate = deliveries nginx logged / that time. Traffic stays on
# 127.0.0.1; every server started here is stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FILL=5s
for arg in "$@"; do
    case "$arg" in
    --quick) FILL=1s ;;
    -h | --help) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/webhooks.sh: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

HOST=127.0.0.1
REFERD_PORT=${REFERD_PORT:-18090}
NGINX_PORT=${NGINX_PORT:-18091}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/referd-webhooks-bench.XXXXXX")
chmod 755 "$TMP"
DB=${DATABASE_URL:-sqlite:$TMP/bench.db}
REFERD_PID=""

log() { printf '[webhooks-bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

stop_referd() {
    [[ -n "$REFERD_PID" ]] || return 0
    kill -TERM "$REFERD_PID" 2>/dev/null || true
    wait "$REFERD_PID" 2>/dev/null || true
    REFERD_PID=""
}
cleanup() {
    stop_referd
    [[ -f "$TMP/nginx.pid" ]] && kill "$(cat "$TMP/nginx.pid")" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

command -v wrk >/dev/null || die "wrk is needed (apt-get install wrk)"
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x "$NGINX_BIN" ]] || die "nginx is needed (apt-get install nginx)"

if [[ -z "${REFERD_BIN:-}" ]]; then
    log "building referd (release)"
    cargo build --release -p referd --manifest-path "$ROOT/Cargo.toml" >&2
    REFERD_BIN="$ROOT/target/release/referd"
fi

json() { python3 -c "import json,sys; v=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }

# The receiver: nginx answering 200, one access-log line per delivery.
mkdir -p "$TMP/logs"
cat >"$TMP/nginx.conf" <<CONF
worker_processes 1;
daemon on;
pid $TMP/nginx.pid;
error_log $TMP/logs/error.log warn;
events { worker_connections 1024; }
http {
    client_body_temp_path $TMP/body;
    log_format plain '\$status';
    server {
        listen $HOST:$NGINX_PORT;
        location = /hook {
            access_log $TMP/logs/hook.log plain;
            return 200 'ok';
        }
    }
}
CONF
"$NGINX_BIN" -c "$TMP/nginx.conf" -p "$TMP" -e "$TMP/logs/error.log" || die "nginx did not start"

"$REFERD_BIN" migrate --database-url "$DB" >/dev/null 2>&1 || die "migrate failed"
created=$("$REFERD_BIN" programs create --type referral --name "Webhook bench" --database-url "$DB" 2>/dev/null)
KEY=$(json 'v["api_key"]' <<<"$created")
PROGRAM=$(json 'v["program"]["public_id"]' <<<"$created")
ADMIN=$("$REFERD_BIN" admin-tokens create --database-url "$DB" 2>/dev/null | json 'v["admin_token"]')

start_referd() {
    env REFERD_WEBHOOKS_WORKER="$1" REFERD_WEBHOOKS_ALLOW_PRIVATE=true RUST_LOG=warn \
        "$REFERD_BIN" serve --bind "$HOST:$REFERD_PORT" --database-url "$DB" >"$TMP/logs/referd.log" 2>&1 &
    REFERD_PID=$!
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://$HOST:$REFERD_PORT/v1/test" && return 0
        sleep 0.1
    done
    die "referd did not start"
}

# 1. Events, with the worker off.
start_referd false
curl -s -X POST "http://$HOST:$REFERD_PORT/v1/webhooks" -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' \
    -d "{\"name\":\"bench\",\"url\":\"http://$HOST:$NGINX_PORT/hook\",\"events\":[\"customer.created\"]}" \
    | grep -q '"status":1' || die "webhook create failed"
log "creating customers for $FILL (one event each)"
wrk -t2 -c16 -d"$FILL" -s "$ROOT/bench/post_customers.lua" "http://$HOST:$REFERD_PORT" -- "wh$$" "$KEY" \
    >"$TMP/logs/wrk.txt"
stop_referd

# 2. Delivery, timed until nothing is pending.
pending() {
    curl -s -H "Authorization: Bearer $ADMIN" \
        "http://$HOST:$REFERD_PORT/admin/v1/programs/$PROGRAM/webhook-deliveries?status=pending&limit=1" |
        json 'len(v["data"])'
}
start_referd true
start=$(date +%s.%N)
while [[ "$(pending)" != 0 ]]; do sleep 0.05; done
end=$(date +%s.%N)
stop_referd
delivered=$(wc -l <"$TMP/logs/hook.log")
python3 - "$delivered" "$start" "$end" "$DB" <<'PY'
import sys
n, start, end, db = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
secs = end - start
backend = "postgres" if db.startswith("postgres") else "sqlite"
print(f"webhook deliveries ({backend}): {n} events in {secs:.2f} s = {n / secs:.0f} events/s")
PY
