#!/usr/bin/env bash
# Forecasting, end to end, as docs/forecasting.md shows it: hourly series
# of four servers (one record per step, `attr.series` naming the server)
# are ingested into the collector; a gru_forecaster registered with its spec
# is cold-started by the trainer on windows of consecutive steps (held out
# by time), judged by the registry's gates on the held-out windows and
# against the seasonal-naive forecast, and served by the real inference
# pod, which takes windows [1, 24, 3] and answers quantiles
# [1, horizons, series, quantiles]. A second, incremental run from the
# first version is evaluated against it and, approved, hot-swapped into
# the pod. The five services run as real processes (deploy/local/continuum-up).
# Usage: forecasting_e2e_test.sh BIN_DIR
set -euo pipefail
bin_dir="$1"
root="$(cd "$(dirname "$0")/.." && pwd)"
py=/usr/bin/python3
ctl="$bin_dir/continuumctl"
work="$(mktemp -d "${TMPDIR:-/tmp}/forecasting_e2e_test.XXXXXX")"
# shellcheck source=util/continuum_up.sh
. "$root/tests/util/continuum_up.sh"
cleanup() {
  stop_services
  rm -rf "$work"
}
trap cleanup EXIT

expect() {  # expect TEXT OUTPUT
  grep -qE -- "$1" <<<"$2" || { echo "missing: /$1/ in:"; echo "$2"; exit 1; }
}

start_services "$root" "$bin_dir" "$work"
export CONTINUUM_ENDPOINTS="$work/up/endpoints.env"
# shellcheck disable=SC1091
. "$work/up/endpoints.env"

# 21 days of hourly CPU load of four servers, ending at the last full hour:
# a daily cycle, a slow rise, noise; the hour of day as two covariates.
# window.csv: the last 24 steps of web-1 (the features only); next.txt: the
# load web-1 would have an hour later without noise.
"$py" - "$work" <<'PY'
import math, random, sys, time
work = sys.argv[1]
random.seed(7)
hours = 21 * 24
end = int(time.time()) // 3600 * 3600
with open(f"{work}/load.csv", "w") as f, open(f"{work}/window.csv", "w") as w:
    f.write("id,event_time,attr.series,cpu,hour_sin,hour_cos\n")
    w.write("cpu,hour_sin,hour_cos\n")
    for s in range(4):
        for k in range(hours):
            t = end - (hours - k) * 3600
            hour = (t // 3600) % 24
            phase = 2 * math.pi * hour / 24
            level = 40 + 10 * s + 15 * math.sin(phase) + 0.02 * k
            cpu = level + random.gauss(0, 1)
            row = f"{cpu:.3f},{math.sin(phase):.5f},{math.cos(phase):.5f}"
            f.write(f"web-{s + 1}-{k},{t},web-{s + 1},{row}\n")
            if s == 0 and k >= hours - 24:
                w.write(row + "\n")
    nxt = 40 + 15 * math.sin(2 * math.pi * ((end // 3600) % 24) / 24) + 0.02 * hours
    open(f"{work}/next.txt", "w").write(f"{nxt:.3f}\n")
PY

"$ctl" datasets create --dataset=load --features=3 --label_kind=none
"$ctl" ingest --dataset=load --csv="$work/load.csv"
"$ctl" models register --model=load --family=gru_forecaster --plan=immediate \
  --spec='sequence_length: 24 horizons: [1, 6] hidden_sizes: 16'

out="$("$ctl" trainer trigger load --wait --epochs=8 --learning_rate=0.01)"
echo "$out"
expect "^models/load/runs/1  SUCCEEDED$" "$out"
expect "cold start" "$out"
expect "candidate   1$" "$out"
expect "decision    approved" "$out"
expect "candidate   loss [0-9.]+ mase [0-9.]+ interval_coverage [0-9.]+$" "$out"
run="$("$ctl" trainer run load/1 --json)"
expect "forecaster: 4 series, a step of 1h, seasonal-naive season 24 steps" "$run"
expect "seasonal_naive" "$run"

"$ctl" health --target="$CONTINUUM_INFERENCE" --wait --timeout=60s
# predict --json until the pod answers with version V (tests/util/continuum_up.sh).
predict_version() {  # predict_version V OUT.json
  predict_until_version "$ctl" "$work" load "$1" "$2" --csv="$work/window.csv" --steps=24
}
# The forecast: [1 window, 2 horizons, 1 series, 3 quantiles], quantiles in
# order, the median an hour ahead near the noiseless load (noise sd 1).
check_forecast() {  # check_forecast OUT.json
  "$py" - "$1" "$(cat "$work/next.txt")" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
shape = [int(d) for d in r["outputs"]["shape"]]
assert shape == [1, 2, 1, 3], shape
q = r["outputs"]["data"]
assert q[0] <= q[1] <= q[2] and q[3] <= q[4] <= q[5], q
assert abs(q[1] - float(sys.argv[2])) < 4, (q[1], sys.argv[2])
print(f"version {r['version']['version']}: P10/P50/P90 an hour ahead "
      f"{q[0]:.2f}/{q[1]:.2f}/{q[2]:.2f}, noiseless {sys.argv[2]}")
PY
}
predict_version 1 "$work/v1.json"
check_forecast "$work/v1.json"

# A window that is not [rows, 24, 3] is refused, naming the shape.
status=0
out="$("$ctl" predict --model=load --csv="$work/window.csv" --log=never 2>&1)" || status=$?
[ "$status" -ne 0 ] || { echo "a flat row was accepted: $out"; exit 1; }
expect "takes \[rows, 24, 3\]" "$out"

# An incremental run from version 1 over the same days: production is the
# baseline of every gate now.
from="$(date -u -d '22 days ago' +%Y-%m-%dT%H:%M:%SZ)"
out="$("$ctl" trainer trigger load --wait --epochs=3 --learning_rate=0.005 --from="$from")"
echo "$out"
expect "^models/load/runs/2  SUCCEEDED$" "$out"
expect "parent      1$" "$out"
expect "production  loss" "$out"
if grep -q "decision    approved" <<<"$out"; then
  predict_version 2 "$work/v2.json"
  check_forecast "$work/v2.json"
else
  expect "decision    rejected" "$out"
  echo "version 2 was rejected by the gates (the report says why); version 1 keeps serving"
  predict_version 1 "$work/v1b.json"
fi
echo "1 passed, 0 failed"
