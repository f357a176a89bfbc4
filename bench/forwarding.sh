#!/usr/bin/env bash
# Forwarding overhead of executions: authenticated, rate-limited, admitted, recorded (a
# `running` row, then the end with its usage in one transaction whose flush makes both
# durable before the answer) sync executions through caravan to a trivial worker, against
# nginx `proxy_pass` of the same worker protocol request to the same worker. Caravan and
# nginx are pinned to core 0 and get one worker process each; wrk and the trivial worker
# share core 1. Rounds alternate.
# Then the stack's ceiling: the smallest actix-web server forwarding with reqwest, as
# caravan does, and recording nothing (bench/src/bin/bare_forward.rs), on the same core.
# Then the latency one client sees: caravan against calling the worker directly.
#
#   bench/forwarding.sh            # ROUNDS=5 DURATION=10s; DATABASE_URL=postgres://… for PostgreSQL
#   CARAVAN_BIN=/tmp/caravan-old bench/forwarding.sh   # another build of caravan, to compare
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
command -v nginx >/dev/null || { echo "nginx is missing: apt-get install nginx" >&2; exit 1; }

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
WORKER_ADDR=127.0.0.1:18090
NGINX_ADDR=127.0.0.1:18091
CARAVAN_ADDR=127.0.0.1:18092
BARE_ADDR=127.0.0.1:18093
TOKEN=forwarding-benchmark-worker-token

cargo build --release -q -p caravan-gateway -p caravan-bench
caravan=${CARAVAN_BIN:-target/release/caravan}

cat >"$bench_dir/plans.toml" <<'PLANS'
[plans.bench]
name = "Bench"
key_requests_per_minute = 600000000
key_burst = 1000000
tenant_requests_per_minute = 600000000
tenant_burst = 1000000
PLANS
cat >"$bench_dir/caravan.toml" <<CONFIG
listen = "$CARAVAN_ADDR"
workers = 1
log_filter = "warn"
plans_file = "$bench_dir/plans.toml"
data_dir = "$bench_dir/data"

[executions]
token = "$TOKEN"
embedded_worker = false

[[executions.workers]]
url = "http://$WORKER_ADDR"
tier = "fast"
CONFIG
cat >"$bench_dir/nginx.conf" <<NGINX
worker_processes 1;
pid $bench_dir/nginx.pid;
error_log $bench_dir/nginx.error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $bench_dir/nginx-body;
  proxy_temp_path $bench_dir/nginx-proxy;
  upstream worker { server $WORKER_ADDR; keepalive 64; }
  server {
    listen $NGINX_ADDR;
    location /runs {
      proxy_pass http://worker;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
NGINX

key="cvn_live_$(set +o pipefail; LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 43)"
TRIVIAL_WORKER_LISTEN=$WORKER_ADDR taskset -c "$LOAD_CPU" target/release/trivial-worker & bench_pids+=($!)
CARAVAN_BOOTSTRAP_KEY=$key start_pinned "$caravan" --config "$bench_dir/caravan.toml" serve >/dev/null 2>"$bench_dir/caravan.log"
start_pinned nginx -c "$bench_dir/nginx.conf" -g 'daemon off;'
BARE_FORWARD_LISTEN=$BARE_ADDR BARE_FORWARD_WORKER=http://$WORKER_ADDR start_pinned target/release/bare-forward
wait_for "http://$WORKER_ADDR/healthz"
wait_for -H "Authorization: Bearer $key" "http://$CARAVAN_ADDR/v1/whoami"

# A capsule of the fast tier, published by the operator's tenant under `bench/`.
mkdir -p "$bench_dir/capsule"
printf 'name = "bench/trivial"\nversion = "1.0.0"\ndescription = "Benchmark"\nlicense = "MIT"\n[runtime]\nentrypoint = "run.sh"\ntimeout_s = 10\ntier = "fast"\n[input_schema]\ntype = "object"\n' \
  >"$bench_dir/capsule/capsule.toml"
printf '# Trivial\n' >"$bench_dir/capsule/README.md"
printf '#!/bin/sh\ncat\n' >"$bench_dir/capsule/run.sh"
"$caravan" keygen --prefix "$bench_dir/bench" >/dev/null
curl -fsS -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  -d "{\"name\": \"bench\", \"public_key_pem\": $(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$bench_dir/bench.pub")}" \
  "http://$CARAVAN_ADDR/v1/namespaces/bench/keys" >/dev/null
"$caravan" pack "$bench_dir/capsule" -o "$bench_dir/trivial.capsule" >/dev/null
"$caravan" sign --key "$bench_dir/bench.key" "$bench_dir/trivial.capsule" >/dev/null
CARAVAN_URL=http://$CARAVAN_ADDR "$caravan" publish "$bench_dir/trivial.capsule" --sbom fixtures/sboms/echo.cdx.json --key "$key" >/dev/null

RUN_BODY='{"input":{}}'
WORKER_BODY='{"execution_id":"exe_01JD8X3ZQK9V6R2N4T7W5YB1CM","capsule":"bench/trivial","version":"1.0.0","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","bundle_url":"http://127.0.0.1/x","signature":"x","public_key_pem":"x","input":{},"timeout_ms":10000}'
measure_p50() {
  local url=$1; shift
  taskset -c "$LOAD_CPU" wrk -t1 --latency "$@" "$url" | awk '
    function ms(v) { if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 } if (v ~ /ms$/) { sub(/ms$/, "", v); return v } sub(/s$/, "", v); return v * 1000 }
    /Requests\/sec:/ { rps = $2 } $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
    END { printf "%.0f %.3f %.3f\n", rps, p99, p50 }'
}
baseline() { BODY=$WORKER_BODY TOKEN=$TOKEN measure_p50 "http://$NGINX_ADDR/runs" -s bench/post.lua -c"$CONNECTIONS" -d"$DURATION"; }
subject() { BODY=$RUN_BODY TOKEN=$key measure_p50 "http://$CARAVAN_ADDR/v1/capsules/bench/trivial/executions" -s bench/post.lua -c"$CONNECTIONS" -d"$DURATION"; }
DURATION=2s baseline >/dev/null
DURATION=2s subject >/dev/null
compare_rounds

ceiling() { BODY=$WORKER_BODY TOKEN=$TOKEN measure_p50 "http://$BARE_ADDR/runs" -s bench/post.lua -c"$CONNECTIONS" -d"$DURATION"; }
ceiling_runs=()
for _ in $(seq "$ROUNDS"); do ceiling_runs+=("$(ceiling)"); done

# One client at a time: what caravan adds to calling the worker directly.
direct=$(BODY=$WORKER_BODY TOKEN=$TOKEN measure_p50 "http://$WORKER_ADDR/runs" -s bench/post.lua -c1 -d"$DURATION")
through=$(BODY=$RUN_BODY TOKEN=$key measure_p50 "http://$CARAVAN_ADDR/v1/capsules/bench/trivial/executions" -s bench/post.lua -c1 -d"$DURATION")
recorded=$(curl -fsS -H "Authorization: Bearer $key" "http://$CARAVAN_ADDR/v1/usage?meter=executions" | grep -o '"quantity":"[0-9]*"' | head -n1)

echo
if [[ -n ${DATABASE_URL:-} ]]; then echo "backend: PostgreSQL"; else echo "backend: SQLite"; fi
echo "nginx proxy_pass:  median $(median_field 1 "${baseline_runs[@]}") requests/s, p99 $(median_field 2 "${baseline_runs[@]}") ms"
echo "caravan executions: median $(median_field 1 "${subject_runs[@]}") requests/s, p99 $(median_field 2 "${subject_runs[@]}") ms"
echo "ratio (median of rounds): $(median "${ratios[@]}")x   (rounds: ${ratios[*]})"
ceiling_rps=$(median_field 1 "${ceiling_runs[@]}")
echo "ceiling, actix-web + reqwest forwarding alone: median $ceiling_rps requests/s ($(awk -v c="$ceiling_rps" -v n="$(median_field 1 "${baseline_runs[@]}")" 'BEGIN { printf "%.3f", c / n }')x nginx)"
echo "one client: worker directly p50 $(echo "$direct" | awk '{print $3}') ms; through caravan p50 $(echo "$through" | awk '{print $3}') ms"
echo "executions recorded this month: $recorded"
