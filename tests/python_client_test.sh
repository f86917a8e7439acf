#!/usr/bin/env bash
# Runs examples/python/continuum_client.py (Debian's python3-grpcio, stubs
# generated from protos/ by CMake) against real collector and registry
# processes and checks what it printed.
set -euo pipefail
bin_dir="$1"
python_dir="$2"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

for service in collector registry; do
  "$bin_dir/continuum-$service" --data_dir="$work/$service" \
    --port_file="$work/$service.port" --metrics_listen= \
    >"$work/$service.out" 2>"$work/$service.log" &
  pids+=($!)
done
for service in collector registry; do
  for _ in $(seq 1 600); do
    [ -s "$work/$service.port" ] && break
    sleep 0.1
  done
  [ -s "$work/$service.port" ] || { echo "$service did not start"; cat "$work/$service.log"; exit 1; }
done

output="$(PYTHONPATH="$python_dir" /usr/bin/python3 "$root/examples/python/continuum_client.py" \
  --collector="127.0.0.1:$(cat "$work/collector.port")" \
  --registry="127.0.0.1:$(cat "$work/registry.port")")"
echo "$output"
expect() {
  grep -qF -- "$1" <<<"$output" || { echo "missing from the client's output: $1"; exit 1; }
}
expect "collector: ingested 100 records"
expect "collector: bad batch rejected: batch rejected, nothing stored: record 0 (id \"bad\"): 2 features, the data set has 4"
expect "collector: outcome for r1 OUTCOME_DISPOSITION_JOINED"
expect "collector: scanned 26 labelled eu rows; r1 has class 2"
expect "collector: 100 records, 51 labelled"
expect "registry: uploaded models/python-demo/versions/1, approved"
expect "serves version 1"
expect "done"
echo "1 passed, 0 failed"
