#!/usr/bin/env bash
# Runs examples/python/continuum_client.py (Debian's python3-grpcio, stubs
# generated from protos/ by CMake) against the five real services started by
# deploy/local/continuum-up, and checks what it printed: the collector and
# registry calls, the pod serving the uploaded bundle, predictions with
# record ids, outcomes joined in the collector and observed by the drift
# service, and the performance alert delivered by WatchAlerts; then
# continuumctl predict with the log policies never and always. Then stops
# the services with SIGTERM and checks that each drained and exited 0.
# Usage: python_client_test.sh BIN_DIR PYTHON_DIR
set -euo pipefail
bin_dir="$1"
python_dir="$2"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/python_client_test.XXXXXX")"
# shellcheck source=util/continuum_up.sh
. "$root/tests/util/continuum_up.sh"
cleanup() {
  stop_services
  rm -rf "$work"
}
trap cleanup EXIT

start_services "$root" "$bin_dir" "$work"
cat "$work/up.out"

"$bin_dir/continuumctl" model init --family=mlp_classifier --inputs=4 \
  --classes=3 --output="$work/python-demo.bundle"

status=0
output="$(PYTHONPATH="$python_dir" timeout 120 /usr/bin/python3 \
  "$root/examples/python/continuum_client.py" \
  --endpoints="$work/up/endpoints.env" --bundle="$work/python-demo.bundle" 2>&1)" ||
  status=$?
echo "$output"
if [ "$status" -ne 0 ]; then
  echo "the client exited with $status; the services' logs:"
  tail -n 30 "$work"/up/logs/*.log
  exit 1
fi
expect() {
  grep -qF -- "$1" <<<"$output" || { echo "missing from the client's output: $1"; exit 1; }
}
expect_re() {
  grep -qE -- "$1" <<<"$output" || { echo "missing from the client's output: /$1/"; exit 1; }
}
expect "collector: created data set python-demo"
expect "collector: ingested 100 records"
expect "collector: bad batch rejected: batch rejected, nothing stored: record 0 (id \"bad\"): 2 features, the data set has 4"
expect "collector: outcome for r1 OUTCOME_DISPOSITION_JOINED"
expect "collector: scanned 26 labelled eu rows; r1 has class 2"
expect "collector: 100 records, 51 labelled"
expect "registry: uploaded models/python-demo/versions/1, approved"
expect_re "registry: revision [0-9]+ serves version 1"
expect "drift: monitor models/python-demo/monitor: error rate above 30% over 100 outcomes (at least 50) is a performance alert; 2 detectors; dry run"
expect_re "inference: pod [^ ]+ serves version 1 \(revision [0-9]+, SERVING_STATE_AVAILABLE\)"
expect_re "inference: predicted 8 rows with version 1 \(SERVING_ROLE_STABLE\): classes \[[0-2](, [0-2]){7}\]"
expect "outcomes: collector {'OUTCOME_DISPOSITION_JOINED': 8}; drift observed 8 outcomes in 1 batch"
expect "outcomes: 120 wrong; collector {'OUTCOME_DISPOSITION_JOINED': 120}; drift observed 120 outcomes in 6 batches"
# 4 of the first 8 outcomes and the next 42 are wrong: 46 of 50.
expect_re "drift: alert [0-9]+ ALERT_TYPE_PERFORMANCE ALERT_SEVERITY_CRITICAL by performance on version 1: error rate 0.92 over the last 50 outcomes of version 1 exceeds max_error_rate 0.3$"
# The default policy would roll production back, but only to an earlier
# version that did better: there is none, so the alert is alert-only.
expect_re "drift: alert [0-9]+ action DRIFT_ACTION_NONE: alert only: no rollback: no earlier version has 50 recent outcomes to compare version 1 with$"
expect "drift: version 1 error rate 100% over the window, 128 outcomes, 128 observations logged by the pod"
expect "collector: 228 records, 179 labelled"
# The same rules the conformance suite checks, through the example client.
expect "contracts: Ingest [valid, unparsable, valid]: INVALID_ARGUMENT message 2 of the stream is not a valid continuum.v1.IngestRequest"
expect "contracts: python-contracts holds 2 records (the first message's)"
expect "contracts: an evaluation request (LOG_POLICY_NEVER) is answered, logged=False"
expect "contracts: Predict with a 200-byte record id: INVALID_ARGUMENT record_ids[0]: at most 128 bytes (got 200)"
expect "contracts: Predict pinned to version -1: INVALID_ARGUMENT version: must be >= 0 (got -1)"
expect_re "contracts: ListVersions filtered by state = PRODUCTON: INVALID_ARGUMENT .*PRODUCTON"
expect "done"

# continuumctl drift status / alerts: what the client's outcomes raised.
# shellcheck disable=SC1091
. "$work/up/endpoints.env"
drift_out="$("$bin_dir/continuumctl" drift alerts --target="$CONTINUUM_DRIFT" --model=python-demo --filter='type = PERFORMANCE')"
echo "$drift_out"
grep -qE "^[0-9]+ +PERFORMANCE +CRITICAL +1 +.*error rate 0.92 over the last 50 outcomes" <<<"$drift_out" ||
  { echo "continuumctl drift alerts: no performance alert on version 1"; exit 1; }
drift_out="$("$bin_dir/continuumctl" drift status --target="$CONTINUUM_DRIFT" --model=python-demo)"
echo "$drift_out"
grep -qE "^models/python-demo: [0-9]+ observations" <<<"$drift_out" &&
  grep -qE "^1 +- +128 +128 +1.0000 +-$" <<<"$drift_out" &&
  grep -qE "^error_adwin +ERROR_RATE +0 +1 +STABLE +128 " <<<"$drift_out" ||
  { echo "continuumctl drift status: unexpected output"; exit 1; }
status=0
"$bin_dir/continuumctl" drift alerts --target="$CONTINUUM_DRIFT" >/dev/null 2>&1 || status=$?
[ "$status" -eq 2 ] || { echo "drift alerts without --model exited $status, not 2"; exit 1; }

# continuumctl predict: evaluation traffic (--log=never) is answered and not
# logged; --log=always is logged.
# shellcheck disable=SC1091
. "$work/up/endpoints.env"
printf 'f1,f2,f3,f4\n0.1,0.2,0.3,0.4\n0.5,0.6,0.7,0.8\n' > "$work/rows.csv"
for policy in never always; do
  want="not logged"
  [ "$policy" = always ] && want="logged"
  pred="$("$bin_dir/continuumctl" predict --target="$CONTINUUM_INFERENCE" \
    --model=python-demo --csv="$work/rows.csv" --log="$policy")"
  echo "$pred"
  grep -qE "^models/python-demo/versions/1 \(SERVING_ROLE_STABLE, pod [^)]+\): 2 rows, $want \(--log=$policy\)$" <<<"$pred" ||
    { echo "continuumctl predict --log=$policy: unexpected output"; exit 1; }
done

# SIGTERM: continuum-up stops every service and each drains and exits 0.
kill -TERM "$up_pid"
up_status=0
wait "$up_pid" || up_status=$?
up_pid=""
cat "$work/up.out" | sed -n '/^stopping/,$p'
[ "$up_status" -eq 0 ] || { echo "continuum-up exited with $up_status"; exit 1; }
for s in registry collector drift trainer inference; do
  grep -qF "  $s stopped (exit 0)" "$work/up.out" ||
    { echo "$s did not stop cleanly"; exit 1; }
done
echo "1 passed, 0 failed"
