#!/usr/bin/env bash
# Authenticated, rate-limited GET /v1/whoami through caravan (key from the authentication
# cache, per-key and per-tenant GCRA limiters, RateLimit fields) against the bare
# actix-web server's GET /healthz. Same pinning and alternation as healthz.sh. Then the
# latency at half of caravan's peak, with wrk paced by half-load.lua.
#
#   bench/whoami.sh                  # 5 rounds of 10 s each
#   CARAVAN_BIN=/tmp/caravan-old bench/whoami.sh   # another build of caravan, to compare
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
BARE_ADDR=127.0.0.1:18081
CARAVAN_ADDR=127.0.0.1:18083

cargo build --release -q -p caravan-gateway -p caravan-bench

# A plan generous enough that the limiters count every request but never refuse one:
# the benchmark measures the cost of limiting, not its effect.
cat >"$bench_dir/plans.toml" <<'PLANS'
[plans.bench]
name = "Bench"
key_requests_per_minute = 600000000
key_burst = 1000000
tenant_requests_per_minute = 600000000
tenant_burst = 1000000
PLANS
key="cvn_live_$(set +o pipefail; LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 43)"

BARE_LISTEN=$BARE_ADDR start_pinned target/release/bare-hello
CARAVAN_LISTEN=$CARAVAN_ADDR CARAVAN_WORKERS=1 CARAVAN_DATA_DIR=$bench_dir CARAVAN_PLANS_FILE=$bench_dir/plans.toml \
  CARAVAN_BOOTSTRAP_KEY=$key start_pinned "${CARAVAN_BIN:-target/release/caravan}" serve >/dev/null 2>"$bench_dir/caravan.log"
wait_for "http://$BARE_ADDR/healthz"
wait_for -H "Authorization: Bearer $key" "http://$CARAVAN_ADDR/v1/whoami"

baseline() { measure "http://$BARE_ADDR/healthz" -c"$CONNECTIONS" -d"$DURATION"; }
subject() { measure "http://$CARAVAN_ADDR/v1/whoami" -H "Authorization: Bearer $key" -c"$CONNECTIONS" -d"$DURATION"; }
DURATION=2s baseline >/dev/null
DURATION=2s subject >/dev/null

compare_rounds
peak=$(median_field 1 "${subject_runs[@]}")
# half-load.lua paces each connection at 500 requests/s.
half_connections=$(awk -v p="$peak" 'BEGIN { c = int(p / 2 / 500); print (c < 1) ? 1 : c }')
read -r half_rps half_p99 < <(measure "http://$CARAVAN_ADDR/v1/whoami" -H "Authorization: Bearer $key" \
  -c"$half_connections" -d"$DURATION" -s bench/half-load.lua)

echo
echo "bare actix-web /healthz:      median $(median_field 1 "${baseline_runs[@]}") requests/s"
echo "caravan /v1/whoami (auth+RL): median $peak requests/s"
echo "ratio caravan / bare per round: ${ratios[*]}; median $(median "${ratios[@]}")"
echo "at half of caravan's peak: offered $((half_connections * 500))/s with $half_connections paced connections, achieved $half_rps/s, p99 $half_p99 ms"
