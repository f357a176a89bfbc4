#!/usr/bin/env bash
# End-to-end runs per second of the fixture capsules through `caravan serve` and its
# embedded reference worker (bundle cached, bubblewrap when installed, a process per run):
# wrk with CONNECTIONS clients sending sync executions of each capsule for DURATION.
#
#   bench/capsule-runs.sh          # DURATION=10s CONNECTIONS=8
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-8}
CARAVAN_ADDR=127.0.0.1:18093
cargo build --release -q -p caravan-gateway
caravan=target/release/caravan
cat >"$bench_dir/plans.toml" <<'PLANS'
[plans.bench]
name = "Bench"
key_requests_per_minute = 600000000
key_burst = 1000000
tenant_requests_per_minute = 600000000
tenant_burst = 1000000
PLANS
key="cvn_live_$(set +o pipefail; LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 43)"
CARAVAN_LISTEN=$CARAVAN_ADDR CARAVAN_DATA_DIR=$bench_dir/data CARAVAN_PLANS_FILE=$bench_dir/plans.toml \
  CARAVAN_LOG_FILTER=warn CARAVAN_BOOTSTRAP_KEY=$key "$caravan" serve >/dev/null 2>"$bench_dir/caravan.log" &
bench_pids+=($!)
wait_for -H "Authorization: Bearer $key" "http://$CARAVAN_ADDR/v1/whoami"
curl -fsS -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  -d "{\"name\": \"fixtures\", \"public_key_pem\": $(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' fixtures/keys/acme.pub)}" \
  "http://$CARAVAN_ADDR/v1/namespaces/acme/keys" >/dev/null
for name in echo word-count json-transform; do
  CARAVAN_URL=http://$CARAVAN_ADDR "$caravan" publish "fixtures/dist/$name.capsule" --sbom "fixtures/sboms/$name.cdx.json" --key "$key" >/dev/null
done

printf "%-22s %12s %10s %10s\n" capsule "runs/s" "p50 ms" "p99 ms"
run() {
  local name=$1 body=$2
  BODY=$body TOKEN=$key wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/post.lua \
    "http://$CARAVAN_ADDR/v1/capsules/acme/$name/executions" | awk -v name="acme/$name" '
    function ms(v) { if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 } if (v ~ /ms$/) { sub(/ms$/, "", v); return v } sub(/s$/, "", v); return v * 1000 }
    /Requests\/sec:/ { rps = $2 } $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) } /Non-2xx/ { bad = $NF }
    END { printf "%-22s %12.0f %10.2f %10.2f%s\n", name, rps, p50, p99, bad ? "  (" bad " non-2xx)" : "" }'
}
run echo '{"input":{"text":"hello"}}'
run word-count '{"input":{"text":"one two three"}}'
run json-transform '{"input":{"document":{"a":{"b":1}},"select":["a.b"]}}'
echo "sandbox: $(command -v bwrap >/dev/null && echo bubblewrap || echo 'none (processes with prlimit)')"
