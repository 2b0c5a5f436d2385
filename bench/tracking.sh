# Tracking configs of bench/run.sh (sourced by it; issue 5): the redirect link and the
# snippet's click beacon on referd (SQLite and PostgreSQL), every click from a new visitor
# (bench/clicks.lua) so that every request is a click to store, and the snippet's static
# file; against nginx's `return 302`, `return 204` and a static file in the same run.
#
# After each click run the stored clicks are read back through the API (GET
# /v1/customers/{id}/stats, which waits for queued clicks) and written beside wrk's count
# (a few more clicks than wrk's count: requests in flight when wrk stops are answered and
# stored but not counted by wrk), and referd's shutdown line (stored / repeats / dropped) is
# kept: a run with dropped_queue_full or failed above 0 is not "every click stored".

# nginx locations for the tracking ceilings (inserted into the generated nginx.conf).
tracking_nginx_locations() {
    cat <<NGINX
        location /r/ {
            add_header Cache-Control no-store;
            return 302 https://bench.test?ref=BENCHKEY;
        }
        location /t/ {
            add_header Access-Control-Allow-Origin *;
            return 204;
        }
        location = /js/universal.js {
            root $NGINX_PREFIX/static;
            default_type application/javascript;
        }
NGINX
}

tracking_nginx_static() {
    mkdir -p "$NGINX_PREFIX/static/js"
    cp "$ROOT/crates/referd-api/assets/universal.js" "$NGINX_PREFIX/static/js/universal.js"
}

# tracking_nginx_round ROUND: the three ceilings.
tracking_nginx_round() {
    local round=$1
    run_wrk nginx-redirect "$round" "$BENCH/clicks.lua" "http://$HOST:$NGINX_PORT/r/P/BENCHKEY" GET /r/P/BENCHKEY
    sleep 1
    run_wrk nginx-beacon "$round" "$BENCH/clicks.lua" "http://$HOST:$NGINX_PORT/t/P/click?key=BENCHKEY" POST "/t/P/click?key=BENCHKEY"
    sleep 1
    run_wrk nginx-snippet "$round" "$BENCH/clicks.lua" "http://$HOST:$NGINX_PORT/js/universal.js" GET /js/universal.js
    sleep 1
}

# wrk_requests FILE: the requests wrk completed.
wrk_requests() { awk '/requests in/ { print $1; exit }' "$1"; }

# stored_clicks: the referrer's counted clicks, through the API.
stored_clicks() {
    curl -s -m 60 -H "Authorization: Bearer $API_KEY" \
        "http://$HOST:$REFERD_PORT/v1/customers/bench-referrer/stats" |
        if command -v jq >/dev/null 2>&1; then jq -r '.data.referrals.clicks'; else
            python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["referrals"]["clicks"])'
        fi
}

# bench_tracking BACKEND ROUND: fresh DB, a refer-a-friend program with one referrer
# (key BENCHKEY); the redirect run, the beacon run, the snippet run.
bench_tracking() {
    local backend=$1 round=$2 url out code program name="referd-$1-tracking-r$2" before after
    url=$(prepare_db "$backend" "$round")
    "$BIN" migrate --database-url "$url" >"$RAW/$name-migrate.log" 2>&1 ||
        die "referd migrate failed; see $RAW/$name-migrate.log"
    record "$BIN" programs create --type referral --name Bench --website https://bench.test --database-url "$url"
    out=$("$BIN" programs create --type referral --name Bench --website https://bench.test \
        --database-url "$url" 2>"$RAW/$name-program.log") ||
        die "referd programs create failed; see $RAW/$name-program.log"
    API_KEY=$(printf '%s' "$out" | json_field api_key) || API_KEY=""
    [[ "$API_KEY" == rfd_* ]] || die "no api_key in: $out"
    program=$(printf '%s' "$out" | program_public_id) || program=""
    [[ -n "$program" ]] || die "no program public_id in: $out"

    RUST_LOG=info start_referd "$name" "$url"
    code=$(curl -s -o "$RAW/$name-check-referrer.json" -w '%{http_code}' -m 10 -X POST \
        -H "Authorization: Bearer $API_KEY" -H 'Content-Type: application/json' \
        --data '{"id":"bench-referrer","key":"BENCHKEY","email":"referrer@example.com"}' \
        "http://$HOST:$REFERD_PORT/v1/customers" || true)
    [[ "$code" == 200 ]] || die "check referrer POST answered '$code'"
    code=$(curl -s -o /dev/null -w '%{http_code}' -m 10 -A 'Mozilla/5.0 Chrome/124.0' \
        "http://$HOST:$REFERD_PORT/r/$program/BENCHKEY" || true)
    [[ "$code" == 302 ]] || die "check redirect answered '$code', expected 302"

    if [[ "$backend" == postgres ]]; then
        "${PSQL[@]}" -d postgres -c CHECKPOINT >&2
    fi
    before=$(stored_clicks)
    run_wrk "$backend-redirect" "$round" "$BENCH/clicks.lua" \
        "http://$HOST:$REFERD_PORT/r/$program/BENCHKEY" GET "/r/$program/BENCHKEY" 1
    after=$(stored_clicks)
    printf '%s\tr%s\twrk requests %s\tclicks stored %s\n' "$backend-redirect" "$round" \
        "$(wrk_requests "$RAW/$backend-redirect-r$round.txt")" "$((after - before))" >>"$OUT/clicks.tsv"
    sleep 1
    before=$after
    run_wrk "$backend-beacon" "$round" "$BENCH/clicks.lua" \
        "http://$HOST:$REFERD_PORT/t/$program/click?key=BENCHKEY" POST "/t/$program/click?key=BENCHKEY" 2
    after=$(stored_clicks)
    printf '%s\tr%s\twrk requests %s\tclicks stored %s\n' "$backend-beacon" "$round" \
        "$(wrk_requests "$RAW/$backend-beacon-r$round.txt")" "$((after - before))" >>"$OUT/clicks.tsv"
    sleep 1
    if [[ "$backend" == sqlite ]]; then
        run_wrk referd-snippet "$round" "$BENCH/clicks.lua" \
            "http://$HOST:$REFERD_PORT/js/universal.js" GET /js/universal.js
    fi

    stop_referd
    grep -h "click writer stopped" "$RAW/$name.log" | sed "s/^/$backend r$round: /" >>"$OUT/clicks.tsv" || true
    API_KEY=""
    sleep 1
}

# The rows and ratios the report adds.
TRACKING_CONFIGS=(nginx-redirect sqlite-redirect postgres-redirect nginx-beacon sqlite-beacon postgres-beacon nginx-snippet referd-snippet)

tracking_describe() {
    case "$1" in
    nginx-redirect) echo "nginx return 302, GET /r/{program}/{key} (ceiling)" ;;
    sqlite-redirect) echo "referd + SQLite, GET /r/{program}/{key} (302, every click stored)" ;;
    postgres-redirect) echo "referd + PostgreSQL, GET /r/{program}/{key} (302, every click stored)" ;;
    nginx-beacon) echo "nginx return 204, POST /t/{program}/click (ceiling)" ;;
    sqlite-beacon) echo "referd + SQLite, POST /t/{program}/click (beacon, every click stored)" ;;
    postgres-beacon) echo "referd + PostgreSQL, POST /t/{program}/click (beacon, every click stored)" ;;
    nginx-snippet) echo "nginx static file, GET /js/universal.js (ceiling)" ;;
    referd-snippet) echo "referd, GET /js/universal.js" ;;
    esac
}

tracking_ratios() {
    local r
    r=$(ratio "${RPS[sqlite-redirect]}" "${RPS[nginx-redirect]}")
    echo "| (tracking) SQLite redirect / nginx 302 | $r | ≥ 0.6 | $(at_least "$r" 0.6) |"
    r=$(ratio "${RPS[postgres-redirect]}" "${RPS[nginx-redirect]}")
    echo "| (tracking) PostgreSQL redirect / nginx 302 | $r | ≥ 0.6 | $(at_least "$r" 0.6) |"
    r=$(ratio "${RPS[sqlite-beacon]}" "${RPS[nginx-beacon]}")
    echo "| (tracking) SQLite beacon / nginx 204 | $r | – | – |"
    r=$(ratio "${RPS[postgres-beacon]}" "${RPS[nginx-beacon]}")
    echo "| (tracking) PostgreSQL beacon / nginx 204 | $r | – | – |"
    r=$(ratio "${RPS[referd-snippet]}" "${RPS[nginx-snippet]}")
    echo "| (tracking) referd snippet / nginx static file | $r | ≥ 0.85 | $(at_least "$r" 0.85) |"
}
