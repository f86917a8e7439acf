#!/usr/bin/env bash
# Bring your own model, end to end, as docs/quickstart.md ("Bring your own
# model") shows it: a PyTorch module saved with torch.jit.script by Debian's
# python3-torch is imported with continuumctl, registered, uploaded and
# served by the real inference pod (its answers equal PyTorch's), fine-tuned
# by the trainer on the collector's data (only its head, as the import
# says), approved by the registry's gates and hot-swapped into the pod; the
# fine-tuned version is downloaded, exported back to TorchScript and loaded
# by torch.jit.load in Python, which gives the pod's answers. The five
# services run as real processes (deploy/local/continuum-up).
# Exit 77 (skipped) where python3-torch is not installed.
# Usage: torchscript_e2e_test.sh BIN_DIR
set -euo pipefail
bin_dir="$1"
root="$(cd "$(dirname "$0")/.." && pwd)"
py=/usr/bin/python3
modules="$root/lib/model/testdata/torchscript_modules.py"
ctl="$bin_dir/continuumctl"
work="$(mktemp -d "${TMPDIR:-/tmp}/torchscript_e2e_test.XXXXXX")"
# shellcheck source=util/continuum_up.sh
. "$root/tests/util/continuum_up.sh"
cleanup() {
  stop_services
  rm -rf "$work"
}
trap cleanup EXIT

made=0
"$py" "$modules" make "$work/m" || made=$?
if [ "$made" -eq 77 ]; then
  echo "skipped: python3-torch is not installed (scripts/install-deps installs it)"
  exit 77
fi
[ "$made" -eq 0 ] || { echo "torchscript_modules.py make exited $made"; exit 1; }

start_services "$root" "$bin_dir" "$work"
# Every continuumctl call below finds its service in this file.
export CONTINUUM_ENDPOINTS="$work/up/endpoints.env"
# shellcheck disable=SC1091
. "$work/up/endpoints.env"

expect() {  # expect TEXT OUTPUT
  grep -qE -- "$1" <<<"$2" || { echo "missing: /$1/ in:"; echo "$2"; exit 1; }
}

# Three classes of 8 features (row i has class i % 3), 1500 labelled rows.
awk 'BEGIN { srand(3); printf "id,label"; for (f = 0; f < 8; f++) printf ",f%d", f; print ""
  for (i = 0; i < 1500; i++) { c = i % 3; printf "r%d,%d", i, c
    for (f = 0; f < 8; f++) printf ",%.4f", (f % 3 == c ? 2 : -1) + (rand() - 0.5) * 2
    print "" } }' >"$work/byo.csv"
# 30 rows to predict (features only) and their labels.
awk -F, 'NR == 1 { printf "f0"; for (f = 1; f < 8; f++) printf ",f%d", f; print ""; next }
  NR <= 31 { line = $3; for (f = 4; f <= 10; f++) line = line "," $f; print line }' \
  "$work/byo.csv" >"$work/rows.csv"

"$ctl" datasets create --dataset=byo --features=8 --classes=3
"$ctl" ingest --dataset=byo --csv="$work/byo.csv"

out="$("$ctl" model import --torchscript="$work/m/mlp.pt" --task=classification \
  --input_shape=8 --classes=3 --trainable=head. --output="$work/byo.bundle")"
echo "$out"
expect "^wrote .*byo.bundle: torchscript classification, input \[8\], 3 outputs, 6 tensors, 467 parameters \(51 trainable\), loss TORCHSCRIPT_LOSS_CROSS_ENTROPY$" "$out"

"$ctl" models register --model=byo --family=torchscript --plan=immediate
cat >"$work/report.json" <<'EOF'
{"evaluations": [{"evaluationSet": "held_out",
  "candidate": {"loss": 1.1, "accuracy": 0.33, "sampleCount": 500}}]}
EOF
out="$("$ctl" upload --model=byo --file="$work/byo.bundle" --report="$work/report.json")"
echo "$out"
expect "^uploaded models/byo/versions/1 \(PRODUCTION" "$out"
"$ctl" health --target="$CONTINUUM_INFERENCE" --wait --timeout=60s

# predict --json until the pod answers with version V (tests/util/continuum_up.sh).
predict_version() {  # predict_version V OUT.json
  predict_until_version "$ctl" "$work" byo "$1" "$2" --csv="$work/rows.csv"
}
accuracy() {  # accuracy OUT.json: share of rows whose class is row % 3
  "$py" -c 'import json,sys
c = [int(x) for x in json.load(open(sys.argv[1]))["predicted_classes"]]
print(sum(1 for i, k in enumerate(c) if k == i % 3) / len(c))' "$1"
}

predict_version 1 "$work/v1.json"
"$py" "$modules" compare "$work/m/mlp.pt" classification 8 "$work/rows.csv" "$work/v1.json"
v1_accuracy="$(accuracy "$work/v1.json")"

# The trainer fine-tunes the head on the window; the gates approve it and
# the immediate plan deploys it.
out="$("$ctl" trainer trigger byo --wait --epochs=10 --learning_rate=0.02)"
echo "$out"
expect "^models/byo/runs/1  SUCCEEDED$" "$out"
expect "candidate   2$" "$out"
expect "decision    approved" "$out"
predict_version 2 "$work/v2.json"
v2_accuracy="$(accuracy "$work/v2.json")"
echo "accuracy on 30 rows: version 1 $v1_accuracy, version 2 $v2_accuracy"
"$py" -c 'import sys; sys.exit(0 if float(sys.argv[2]) >= 0.9 and float(sys.argv[2]) > float(sys.argv[1]) else 1)' \
  "$v1_accuracy" "$v2_accuracy" || { echo "fine-tuning did not improve the module"; exit 1; }

# Out again: the fine-tuned module in Python answers as the pod did.
"$ctl" download --version=models/byo/versions/2 --output="$work/v2.bundle"
out="$("$ctl" model export "$work/v2.bundle" --output="$work/v2.pt")"
echo "$out"
expect "^wrote .*v2.pt \([0-9]+ bytes\): the module of .*v2.bundle; load it with torch.jit.load$" "$out"
"$py" "$modules" compare "$work/v2.pt" classification 8 "$work/rows.csv" "$work/v2.json"
# ...and the original module does not (the weights did move).
if "$py" "$modules" compare "$work/m/mlp.pt" classification 8 "$work/rows.csv" "$work/v2.json" >/dev/null; then
  echo "version 2 answers as the imported module: nothing was fine-tuned"
  exit 1
fi

# A module that cannot serve is refused at import, with the module's error.
status=0
out="$("$ctl" model import --torchscript="$work/m/throws.pt" --task=regression \
  --input_shape=4 --output="$work/bad.bundle" 2>&1)" || status=$?
echo "$out"
[ "$status" -eq 1 ] || { echo "import of a throwing module exited $status"; exit 1; }
expect "this module refuses every input" "$out"
[ ! -e "$work/bad.bundle" ] || { echo "a bundle was written for a bad module"; exit 1; }
echo "1 passed, 0 failed"
