#!/usr/bin/env bash
# The whole loop end to end (deploy/local/demo: five real service processes,
# real Fashion-MNIST): after the switch to rotated images the accuracy must
# collapse, the drift service must trigger retraining, a new version must
# reach the stable role, the accuracy must recover without forgetting A
# (held-out A images, measured per version without being logged), and the
# deliberately bad candidate must be rejected by the registry's gates.
# With --tls, the same run with mutual TLS between every service and the
# demo, and authentication with per-method roles (continuum-up --auth:
# every service calls the others with its certificate's roles) and
# encryption at rest (continuum-up --encrypt) of the collector's records,
# the registry's artifacts and the pod's cache.
# Usage: demo_test.sh BIN_DIR [--tls]   (exit 77 = skipped)
set -euo pipefail
bin_dir="$1"
up_flags=()
[ "${2:-}" = --tls ] && up_flags=(--tls --auth --encrypt)
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ ! -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "SKIP: Fashion-MNIST missing (apt-get install dataset-fashion-mnist)"
  exit 77
fi
out="$(mktemp -d "${TMPDIR:-/tmp}/demo_test.XXXXXX")"
trap 'rm -rf "$out"' EXIT
"$root/deploy/local/demo" --bin-dir "$bin_dir" --out "$out/report" \
  "${up_flags[@]}" -- \
  --cold_start_rows=3000 --a_batches=20 --b_batches=240 | tee "$out/log"
summary="$out/report/summary.md"
fail() { echo "FAIL: $*"; cat "$summary"; exit 1; }
percent() { grep -F "| $1 |" "$summary" | sed 's/.*| \([0-9.]*\) %.*/\1/'; }
a=$(percent "accuracy on A before the drift (last 5 batches)")
drop=$(percent "accuracy on B right after the switch")
end=$(percent "accuracy on B at the end (last 5 batches)")
echo "accuracy: A $a %, B after the switch $drop %, B at the end $end %"
awk -v a="$a" 'BEGIN { exit !(a >= 75) }' || fail "accuracy on A $a % < 75 %"
awk -v d="$drop" 'BEGIN { exit !(d <= 30) }' || fail "no drop after the switch ($drop %)"
awk -v e="$end" 'BEGIN { exit !(e >= 60) }' || fail "no recovery: $end % < 60 %"
grep -q "drift alert: PERFORMANCE" "$out/log" || fail "no performance alert"
# The reference tests (inputs against the training reference in the
# deployed bundle) find the rotated images, and only after the switch.
switch_line=$(grep -n "switches to distribution B" "$out/log" | head -1 | cut -d: -f1)
data_line=$(grep -n "drift alert: DATA by reference_tests" "$out/log" | head -1 | cut -d: -f1)
[ -n "$data_line" ] || fail "no DATA alert from the reference tests"
[ -n "$switch_line" ] && [ "$data_line" -gt "$switch_line" ] ||
  fail "a DATA alert before the switch to B (line $data_line)"
grep -q "RUN_TRIGGER_DRIFT" "$out/log" || fail "no drift-triggered run"
grep -Eq "version [0-9]+ is now the stable version" "$out/log" ||
  fail "no new stable version"
grep -q "| bad candidate state | VERSION_STATE_REJECTED |" "$summary" ||
  fail "the bad candidate was not rejected"
dropped=$(grep -F "| outcome reports dropped |" "$summary" | sed 's/.*| \([0-9]*\) |$/\1/')
[ "$dropped" = "0" ] || fail "outcome reports dropped: ${dropped:-not reported}"
[ -s "$out/report/timeline.csv" ] || fail "no timeline"
# Forgetting: every version that answered was measured on held-out images
# of A (not logged); the retrained one (replay) kept most of what version 1
# knew of A (naive fine-tuning on rotated images loses 50 to 70 points).
held="$out/report/held_out_a.csv"
[ "$(wc -l < "$held")" -ge 2 ] || fail "fewer than two versions on held-out A"
first_a=$(head -1 "$held" | cut -d, -f3)
last_a=$(tail -1 "$held" | cut -d, -f3)
echo "held-out A: version 1 $first_a, last version $last_a"
awk -v f="$first_a" -v l="$last_a" 'BEGIN { exit !(l >= f - 0.10) }' ||
  fail "the last version lost more than 10 points of A ($first_a -> $last_a)"
grep -q "held-out A accuracy, version" "$summary" ||
  fail "no held-out A accuracy in the summary"
if command -v gnuplot >/dev/null; then
  [ -s "$out/report/accuracy.png" ] || fail "gnuplot is installed but no chart"
fi
if [ ${#up_flags[@]} -gt 0 ]; then
  grep -q "mutual TLS: CA" "$out/log" || fail "the services did not start with TLS"
  grep -q "^auth: identities" "$out/log" || fail "the services did not start with auth"
  grep -q "^encryption at rest: key file" "$out/log" ||
    fail "the services did not start with encryption at rest"
  # Redaction: no token, private key or encryption key of the run appears
  # in any service's log or in the demo's output.
  state=$(sed -n 's/^demo: state and service logs in //p' "$out/log" | head -1)
  [ -d "$state/logs" ] || fail "no state directory in the demo's output"
  secrets=("$(cat "$state/tls/viewer.token")" "$(cat "$state/tls/operator.token")"
           "$(awk 'NF == 2 {print $2}' "$state/keys/at-rest.keys")"
           "$(sed -n 3p "$state/tls/trainer.key")")
  for secret in "${secrets[@]}"; do
    [ -n "$secret" ] || fail "a secret of the run could not be read"
    if grep -rqF -- "$secret" "$state/logs" "$out/log"; then
      fail "a token or key of the run appears in a log"
    fi
  done
  echo "redaction: ${#secrets[@]} tokens and keys in none of the logs"
fi
echo PASS
