#!/usr/bin/env bash
# GET /healthz through caravan's full middleware stack (request id, metrics, logging,
# problem fallback, router with every crate mounted) against a bare actix-web server
# answering the same body. Both run one worker pinned to the same core; wrk runs on the
# other core. Rounds alternate the order of the two so machine noise hits both alike.
#
#   bench/healthz.sh                 # 5 rounds of 10 s each
#   ROUNDS=3 DURATION=5s bench/healthz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
BARE_ADDR=127.0.0.1:18081
CARAVAN_ADDR=127.0.0.1:18082

cargo build --release -q -p caravan-gateway -p caravan-bench
BARE_LISTEN=$BARE_ADDR start_pinned target/release/bare-hello
CARAVAN_LISTEN=$CARAVAN_ADDR CARAVAN_WORKERS=1 CARAVAN_DATA_DIR=$bench_dir \
  start_pinned target/release/caravan serve >/dev/null 2>"$bench_dir/caravan.log"
caravan_pid=${bench_pids[-1]}
wait_for "http://$BARE_ADDR/healthz"
wait_for "http://$CARAVAN_ADDR/healthz"
sleep 1
idle_rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$caravan_pid/status")

baseline() { measure "http://$BARE_ADDR/healthz" -c"$CONNECTIONS" -d"$DURATION"; }
subject() { measure "http://$CARAVAN_ADDR/healthz" -c"$CONNECTIONS" -d"$DURATION"; }
DURATION=2s baseline >/dev/null
DURATION=2s subject >/dev/null

compare_rounds
echo
echo "bare actix-web:   median $(median_field 1 "${baseline_runs[@]}") requests/s, p99 $(median_field 2 "${baseline_runs[@]}") ms"
echo "caravan /healthz: median $(median_field 1 "${subject_runs[@]}") requests/s, p99 $(median_field 2 "${subject_runs[@]}") ms"
echo "ratio caravan / bare per round: ${ratios[*]}; median $(median "${ratios[@]}")"
echo "caravan idle RSS after start-up: $((idle_rss_kb / 1024)) MiB; peak RSS (VmHWM) after the run: $(( $(awk '/^VmHWM/ {print $2}' "/proc/$caravan_pid/status") / 1024 )) MiB"
