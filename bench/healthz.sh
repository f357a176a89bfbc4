#!/usr/bin/env bash
# GET /healthz through caravan's full middleware stack (request id, tracing span,
# metrics, problem fallback) against a bare actix-web server answering the same body.
# Both servers run one worker pinned to the same core; wrk runs on the other core.
# Rounds alternate the order of the two targets so machine noise hits both alike.
#
#   bench/healthz.sh                 # 5 rounds of 10 s each
#   ROUNDS=3 DURATION=5s bench/healthz.sh
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
BARE_ADDR=127.0.0.1:18081
CARAVAN_ADDR=127.0.0.1:18082

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
cargo build --release -q -p caravan-gateway -p caravan-bench

data_dir=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$data_dir"; }
trap cleanup EXIT

BARE_LISTEN=$BARE_ADDR taskset -c "$SERVER_CPU" target/release/bare-hello &
pids+=($!)
CARAVAN_LISTEN=$CARAVAN_ADDR CARAVAN_WORKERS=1 CARAVAN_DATA_DIR=$data_dir \
  taskset -c "$SERVER_CPU" target/release/caravan serve 2>"$data_dir/caravan.log" &
caravan_pid=$!
pids+=($caravan_pid)

for addr in $BARE_ADDR $CARAVAN_ADDR; do
  for _ in $(seq 100); do curl -fs "http://$addr/healthz" >/dev/null && break; sleep 0.1; done
  curl -fs "http://$addr/healthz" >/dev/null || { echo "server at $addr did not start" >&2; exit 1; }
done
sleep 1
idle_rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$caravan_pid/status")

# Prints "requests_per_second p99_ms" for one wrk run.
measure() {
  taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "http://$1/healthz" | awk '
    /Requests\/sec:/ { rps = $2 }
    $1 == "99%" {
      v = $2
      if (v ~ /us$/) { sub(/us$/, "", v); ms = v / 1000 }
      else if (v ~ /ms$/) { sub(/ms$/, "", v); ms = v }
      else if (v ~ /s$/) { sub(/s$/, "", v); ms = v * 1000 }
    }
    END { printf "%.0f %.3f\n", rps, ms }'
}

# Warm both servers before measuring.
DURATION=2s measure $BARE_ADDR >/dev/null
DURATION=2s measure $CARAVAN_ADDR >/dev/null

printf "%-6s %-8s %12s %10s\n" round target "requests/s" "p99 ms"
bare_runs=() caravan_runs=() ratios=()
for round in $(seq "$ROUNDS"); do
  if (( round % 2 )); then order="bare caravan"; else order="caravan bare"; fi
  for target in $order; do
    addr=$BARE_ADDR; [[ $target == caravan ]] && addr=$CARAVAN_ADDR
    read -r rps p99 < <(measure "$addr")
    printf "%-6s %-8s %12s %10s\n" "$round" "$target" "$rps" "$p99"
    if [[ $target == bare ]]; then bare_rps=$rps; bare_runs+=("$rps $p99"); else caravan_rps=$rps; caravan_runs+=("$rps $p99"); fi
  done
  ratios+=("$(awk -v c="$caravan_rps" -v b="$bare_rps" 'BEGIN { printf "%.3f", c / b }')")
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
median_field() { local field=$1; shift; printf '%s\n' "$@" | awk -v f="$field" '{ print $f }' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo
echo "bare actix-web:   median $(median_field 1 "${bare_runs[@]}") requests/s, p99 $(median_field 2 "${bare_runs[@]}") ms"
echo "caravan /healthz: median $(median_field 1 "${caravan_runs[@]}") requests/s, p99 $(median_field 2 "${caravan_runs[@]}") ms"
echo "ratio caravan / bare per round: ${ratios[*]}; median $(median "${ratios[@]}")"
echo "caravan idle RSS after start-up: $((idle_rss_kb / 1024)) MiB; peak RSS (VmHWM) after the run: $(( $(awk '/^VmHWM/ {print $2}' "/proc/$caravan_pid/status") / 1024 )) MiB"
