#!/usr/bin/env bash
# referd's one test command.
#
#   scripts/test.sh                 # whole workspace, SQLite + PostgreSQL
#   scripts/test.sh -p referd-core  # extra arguments go to `cargo test`
#   scripts/test.sh -- --nocapture  # ... including test-binary arguments
#
# Runs `cargo test` once. Every storage scenario has a SQLite and a PostgreSQL
# variant; the PostgreSQL variants run when REFERD_TEST_POSTGRES_URL is set and
# skip themselves otherwise. This script finds a PostgreSQL, in this order:
#   a. REFERD_TEST_POSTGRES_URL already set (non-empty): used as is;
#   b. a server answering at 127.0.0.1:5432 that lets user postgres in without a
#      password: database `referd_test` on it, dropped and created afresh for this run;
#   c. initdb + pg_ctl available: a throwaway cluster on 127.0.0.1 in a temp
#      dir, stopped and removed when this script exits;
#   d. none of these: a loud warning, SQLite only.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '[test.sh] %s\n' "$*" >&2; }

PG_HOST=127.0.0.1
PG_TEST_DB=referd_test

# ---------------------------------------------------------------- helpers --

# pg_answers PORT: true when a PostgreSQL (or at least something) answers.
pg_answers() {
    local port=$1
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h "$PG_HOST" -p "$port" -t 3 >/dev/null 2>&1
    else
        timeout 3 bash -c "exec 3<>/dev/tcp/$PG_HOST/$port" >/dev/null 2>&1
    fi
}

# port_busy PORT: true when something listens on 127.0.0.1:PORT.
port_busy() {
    timeout 2 bash -c "exec 3<>/dev/tcp/$PG_HOST/$1" >/dev/null 2>&1
}

# find_pg_tool NAME: print the path of a PostgreSQL server tool, or fail.
find_pg_tool() {
    local name=$1 candidate
    if command -v "$name" >/dev/null 2>&1; then
        command -v "$name"
        return 0
    fi
    # Highest installed major version first.
    while IFS= read -r candidate; do
        if [[ -x "$candidate" ]]; then
            printf '%s\n' "$candidate"
            return 0
        fi
    done < <(printf '%s\n' /usr/lib/postgresql/*/bin/"$name" | sort -t/ -k5,5 -rn)
    return 1
}

# ensure_database PSQL PORT: (re)create $PG_TEST_DB empty, so every run starts from the
# current migrations and no rows left by an earlier run.
ensure_database() {
    local psql=$1 port=$2
    "$psql" -X -q -w -h "$PG_HOST" -p "$port" -U postgres -d postgres \
        -c "DROP DATABASE IF EXISTS $PG_TEST_DB WITH (FORCE)" >/dev/null 2>&1 || return 1
    "$psql" -X -q -w -h "$PG_HOST" -p "$port" -U postgres -d postgres \
        -c "CREATE DATABASE $PG_TEST_DB" >/dev/null 2>&1
}

# --------------------------------------------------- throwaway cluster (c) --

TMP_CLUSTER_DIR=""
TMP_CLUSTER_PG_CTL=""
TMP_CLUSTER_USER=""

# as_cluster_user CMD...: run CMD as the cluster's owner (root cannot run postgres).
as_cluster_user() {
    if [[ -z "$TMP_CLUSTER_USER" ]]; then
        "$@"
    elif command -v runuser >/dev/null 2>&1; then
        runuser -u "$TMP_CLUSTER_USER" -- "$@"
    else
        local quoted
        quoted=$(printf '%q ' "$@")
        su -s /bin/sh "$TMP_CLUSTER_USER" -c "$quoted"
    fi
}

stop_tmp_cluster() {
    if [[ -n "$TMP_CLUSTER_DIR" && -d "$TMP_CLUSTER_DIR" ]]; then
        if [[ -n "$TMP_CLUSTER_PG_CTL" && -f "$TMP_CLUSTER_DIR/data/postmaster.pid" ]]; then
            log "stopping throwaway PostgreSQL cluster"
            as_cluster_user "$TMP_CLUSTER_PG_CTL" -D "$TMP_CLUSTER_DIR/data" -m fast -w -t 60 stop \
                >/dev/null 2>&1 || true
        fi
        rm -rf "$TMP_CLUSTER_DIR"
    fi
}

# start_tmp_cluster: on success sets TMP_CLUSTER_PORT to the port of a fresh
# trust-auth cluster (runs in this shell, so the EXIT trap sees its globals).
TMP_CLUSTER_PORT=""
start_tmp_cluster() {
    local initdb pg_ctl psql port
    initdb=$(find_pg_tool initdb) || return 1
    pg_ctl=$(find_pg_tool pg_ctl) || return 1
    psql=$(find_pg_tool psql) || psql=""

    if [[ "$(id -u)" == 0 ]]; then
        if id -u postgres >/dev/null 2>&1; then
            TMP_CLUSTER_USER=postgres
        elif id -u referd-pg >/dev/null 2>&1; then
            TMP_CLUSTER_USER=referd-pg
        elif command -v useradd >/dev/null 2>&1 &&
            useradd --system --no-create-home --shell /usr/sbin/nologin referd-pg >/dev/null 2>&1; then
            TMP_CLUSTER_USER=referd-pg
        else
            log "running as root and no unprivileged user to run PostgreSQL as"
            return 1
        fi
    fi

    TMP_CLUSTER_DIR=$(mktemp -d "${TMPDIR:-/tmp}/referd-test-pg.XXXXXX")
    TMP_CLUSTER_PG_CTL=$pg_ctl
    if [[ -n "$TMP_CLUSTER_USER" ]]; then
        chown "$TMP_CLUSTER_USER" "$TMP_CLUSTER_DIR"
    fi
    chmod 700 "$TMP_CLUSTER_DIR"

    log "initdb of a throwaway cluster in $TMP_CLUSTER_DIR${TMP_CLUSTER_USER:+ (as $TMP_CLUSTER_USER)}"
    if ! as_cluster_user "$initdb" -D "$TMP_CLUSTER_DIR/data" --auth=trust -U postgres \
        --encoding=UTF8 --locale=C --no-sync >"$TMP_CLUSTER_DIR/initdb.log" 2>&1; then
        log "initdb failed:"
        sed 's/^/    /' "$TMP_CLUSTER_DIR/initdb.log" >&2 || true
        return 1
    fi

    for port in 55432 55433 55434 55435 55436 55437 55438 55439; do
        if port_busy "$port"; then
            continue
        fi
        if as_cluster_user "$pg_ctl" -D "$TMP_CLUSTER_DIR/data" -l "$TMP_CLUSTER_DIR/server.log" \
            -w -t 60 start -o "-c listen_addresses=$PG_HOST -p $port -c unix_socket_directories=$TMP_CLUSTER_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
            >/dev/null 2>&1; then
            TMP_CLUSTER_PORT=$port
            break
        fi
        log "could not start on port $port, trying the next one"
    done
    if [[ -z "$TMP_CLUSTER_PORT" ]]; then
        log "throwaway cluster did not start; its log:"
        tail -n 20 "$TMP_CLUSTER_DIR/server.log" 2>/dev/null | sed 's/^/    /' >&2 || true
        return 1
    fi

    # The fresh cluster's own `postgres` database serves when psql cannot make ours.
    TMP_CLUSTER_DB=postgres
    if [[ -n "$psql" ]] && "$psql" -X -q -w -h "$PG_HOST" -p "$TMP_CLUSTER_PORT" -U postgres \
        -d postgres -c "CREATE DATABASE $PG_TEST_DB" >/dev/null 2>&1; then
        TMP_CLUSTER_DB=$PG_TEST_DB
    fi
    return 0
}

# ------------------------------------------------------------- discovery --

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() { stop_tmp_cluster; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pg_url=""
pg_where=""
if [[ -n "${REFERD_TEST_POSTGRES_URL:-}" ]]; then
    # (a) given by the caller.
    pg_url=$REFERD_TEST_POSTGRES_URL
    pg_where="REFERD_TEST_POSTGRES_URL from the environment"
elif pg_answers 5432 && psql_bin=$(find_pg_tool psql) &&
    "$psql_bin" -X -q -w -h "$PG_HOST" -p 5432 -U postgres -d postgres -c 'SELECT 1' >/dev/null 2>&1 &&
    ensure_database "$psql_bin" 5432; then
    # (b) the machine's server, if we can log in without a password (trust auth) and make
    # our own database on it; otherwise (c) or (d) below.
    pg_url="postgres://postgres@$PG_HOST:5432/$PG_TEST_DB"
    pg_where="server at $PG_HOST:5432"
elif start_tmp_cluster; then
    # (c) a throwaway cluster, removed on exit.
    pg_url="postgres://postgres@$PG_HOST:$TMP_CLUSTER_PORT/$TMP_CLUSTER_DB"
    pg_where="throwaway cluster in $TMP_CLUSTER_DIR"
else
    # (d) nothing: say so loudly.
    stop_tmp_cluster
    TMP_CLUSTER_DIR=""
fi

# --------------------------------------------------------------- browser --

# The browser test (crates/referd/tests/browser.rs) drives headless Chromium. Install
# Debian's package when it is missing and apt-get can; otherwise the test skips loudly.
browser_found() {
    command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 ||
        command -v google-chrome >/dev/null 2>&1 || [[ -n "${REFERD_CHROMIUM:-}" ]]
}
if ! browser_found && command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
    log "installing chromium for the browser test (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 ||
        { DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1; } ||
        log "could not install chromium"
fi
if browser_found; then
    log "browser: $(command -v chromium || command -v chromium-browser || command -v google-chrome || echo "$REFERD_CHROMIUM")"
else
    printf '%s\n' "!!!!!! NO BROWSER: chromium is not installed and could not be; the browser test will be SKIPPED !!!!!!" >&2
fi

# ------------------------------------------------------------------ cargo --

if [[ -n "$pg_url" ]]; then
    export REFERD_TEST_POSTGRES_URL="$pg_url"
    # Do not print credentials a caller may have put in the URL.
    shown_url=$(printf '%s' "$pg_url" | sed -E 's#(://[^:/@]+):[^@/]*@#\1:***@#')
    log "backends: SQLite + PostgreSQL ($pg_where: $shown_url)"
else
    unset REFERD_TEST_POSTGRES_URL
    printf '%s\n' "!!!!!! SKIPPING POSTGRESQL: no server reachable at $PG_HOST:5432 and no usable initdb/pg_ctl; only the SQLite backend was tested !!!!!!" >&2
    log "backends: SQLite only"
fi

# `--workspace` unless the caller picked packages (`-p X` / `--package X`).
cargo_args=(test)
picked_package=""
for arg in "$@"; do
    [[ "$arg" == "--" ]] && break
    case "$arg" in
    -p | -p* | --package | --package=*) picked_package=1 ;;
    esac
done
if [[ -z "$picked_package" ]]; then
    cargo_args+=(--workspace)
fi
cargo_args+=("$@")

log "running: cargo ${cargo_args[*]}"
status=0
output=$(mktemp)
cargo "${cargo_args[@]}" 2>&1 | tee "$output" || status=${PIPESTATUS[0]}

# One closing line over every test binary, so the total is plain to read (cargo prints one
# "test result" line per binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     END { printf "summary: %d passed, %d failed\n", p, f }' "$output"
rm -f "$output"

if [[ -z "$pg_url" ]]; then
    printf '%s\n' "!!!!!! SKIPPED POSTGRESQL: only the SQLite backend was tested !!!!!!" >&2
fi
if ! browser_found; then
    printf '%s\n' "!!!!!! SKIPPED BROWSER TEST: no chromium !!!!!!" >&2
fi
exit "$status"
