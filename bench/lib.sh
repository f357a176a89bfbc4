# Shared by the benchmark scripts: starting servers, driving wrk, and medians.
# Source it after `cd` to the repository root.

SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

bench_pids=()
bench_dir=$(mktemp -d)
bench_cleanup() { kill "${bench_pids[@]}" 2>/dev/null || true; rm -rf "$bench_dir"; }
trap bench_cleanup EXIT

# Starts a command pinned to the server core in the background and remembers its pid.
start_pinned() {
  taskset -c "$SERVER_CPU" "$@" &
  bench_pids+=($!)
}

# Waits until `curl -fs ARGS…` succeeds, or fails the script.
wait_for() {
  for _ in $(seq 100); do curl -fs "$@" >/dev/null && return 0; sleep 0.1; done
  echo "no answer from: $*" >&2
  exit 1
}

# Prints "requests_per_second p99_ms" for one wrk run from the load core: URL, then wrk's
# other arguments.
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

# The median of the numbers given as arguments.
median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# The median of field N of "rps p99" rows given as arguments.
median_field() {
  local field=$1; shift
  # shellcheck disable=SC2046
  median $(printf '%s\n' "$@" | awk -v f="$field" '{ print $f }')
}

# Runs ROUNDS rounds of the functions `baseline` and `subject` (each prints "rps p99"),
# alternating their order, and prints a table; leaves the rows in baseline_runs,
# subject_runs and the per-round subject/baseline ratios in ratios.
compare_rounds() {
  baseline_runs=() subject_runs=() ratios=()
  printf "%-6s %-9s %12s %10s\n" round target "requests/s" "p99 ms"
  local round target rps p99 baseline_rps subject_rps order
  for round in $(seq "$ROUNDS"); do
    if (( round % 2 )); then order="baseline subject"; else order="subject baseline"; fi
    for target in $order; do
      read -r rps p99 < <($target)
      printf "%-6s %-9s %12s %10s\n" "$round" "$target" "$rps" "$p99"
      if [[ $target == baseline ]]; then baseline_rps=$rps; baseline_runs+=("$rps $p99"); else subject_rps=$rps; subject_runs+=("$rps $p99"); fi
    done
    ratios+=("$(awk -v s="$subject_rps" -v b="$baseline_rps" 'BEGIN { printf "%.3f", s / b }')")
  done
}
