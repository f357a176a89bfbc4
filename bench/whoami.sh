#!/usr/bin/env bash
# Authenticated, rate-limited GET /v1/whoami through caravan (key lookup from the
# authentication cache, per-key and per-tenant GCRA limiters, RateLimit headers) against
# the bare actix-web server's GET /healthz. Same pinning and alternation as healthz.sh.
# Then the latency at half of caravan's peak: wrk paced by half-load.lua.
#
#   bench/whoami.sh                  # 5 rounds of 10 s each
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
BARE_ADDR=127.0.0.1:18081
CARAVAN_ADDR=127.0.0.1:18083

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
cargo build --release -q -p caravan-gateway -p caravan-bench

data_dir=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$data_dir"; }
trap cleanup EXIT

# A plan generous enough that the limiters count every request but never refuse one:
# the benchmark measures the cost of limiting, not its effect.
cat >"$data_dir/plans.toml" <<'PLANS'
[plans.bench]
name = "Bench"
key_requests_per_minute = 600000000
key_burst = 1000000
tenant_requests_per_minute = 600000000
tenant_burst = 1000000
PLANS
key="cvn_live_$(set +o pipefail; LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 43)"

BARE_LISTEN=$BARE_ADDR taskset -c "$SERVER_CPU" target/release/bare-hello &
pids+=($!)
CARAVAN_LISTEN=$CARAVAN_ADDR CARAVAN_WORKERS=1 CARAVAN_DATA_DIR=$data_dir CARAVAN_PLANS_FILE=$data_dir/plans.toml \
  CARAVAN_BOOTSTRAP_KEY=$key taskset -c "$SERVER_CPU" target/release/caravan serve >/dev/null 2>"$data_dir/caravan.log" &
pids+=($!)

for _ in $(seq 100); do curl -fs "http://$BARE_ADDR/healthz" >/dev/null && break; sleep 0.1; done
for _ in $(seq 100); do curl -fs -H "Authorization: Bearer $key" "http://$CARAVAN_ADDR/v1/whoami" >/dev/null && break; sleep 0.1; done
curl -fsS -H "Authorization: Bearer $key" "http://$CARAVAN_ADDR/v1/whoami" >/dev/null

# Prints "requests_per_second p99_ms" for one wrk run; extra wrk arguments follow the URL.
measure() {
  local url=$1; shift
  taskset -c "$LOAD_CPU" wrk -t1 --latency "$@" "$url" | awk '
    /Requests\/sec:/ { rps = $2 }
    $1 == "99%" {
      v = $2
      if (v ~ /us$/) { sub(/us$/, "", v); ms = v / 1000 }
      else if (v ~ /ms$/) { sub(/ms$/, "", v); ms = v }
      else if (v ~ /s$/) { sub(/s$/, "", v); ms = v * 1000 }
    }
    END { printf "%.0f %.3f\n", rps, ms }'
}
bare() { measure "http://$BARE_ADDR/healthz" "$@"; }
caravan() { measure "http://$CARAVAN_ADDR/v1/whoami" -H "Authorization: Bearer $key" "$@"; }

bare -c"$CONNECTIONS" -d2s >/dev/null
caravan -c"$CONNECTIONS" -d2s >/dev/null

printf "%-6s %-8s %12s %10s\n" round target "requests/s" "p99 ms"
bare_runs=() caravan_runs=() ratios=()
for round in $(seq "$ROUNDS"); do
  if (( round % 2 )); then order="bare caravan"; else order="caravan bare"; fi
  for target in $order; do
    read -r rps p99 < <($target -c"$CONNECTIONS" -d"$DURATION")
    printf "%-6s %-8s %12s %10s\n" "$round" "$target" "$rps" "$p99"
    if [[ $target == bare ]]; then bare_rps=$rps; bare_runs+=("$rps $p99"); else caravan_rps=$rps; caravan_runs+=("$rps $p99"); fi
  done
  ratios+=("$(awk -v c="$caravan_rps" -v b="$bare_rps" 'BEGIN { printf "%.3f", c / b }')")
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
median_field() { local field=$1; shift; printf '%s\n' "$@" | awk -v f="$field" '{ print $f }' | median $(cat); }

caravan_peak=$(printf '%s\n' "${caravan_runs[@]}" | awk '{ print $1 }' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
# half-load.lua paces each connection at 500 requests/s.
half_connections=$(( caravan_peak / 2 / 500 ))
(( half_connections < 1 )) && half_connections=1
read -r half_rps half_p99 < <(caravan -c"$half_connections" -d"$DURATION" -s bench/half-load.lua)

echo
echo "bare actix-web /healthz:       median $(printf '%s\n' "${bare_runs[@]}" | awk '{ print $1 }' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }') requests/s"
echo "caravan /v1/whoami (auth+RL):  median $caravan_peak requests/s"
echo "ratio caravan / bare per round: ${ratios[*]}; median $(median "${ratios[@]}")"
echo "at half of caravan's peak: offered $((half_connections * 500))/s with $half_connections paced connections, achieved $half_rps/s, p99 $half_p99 ms"
