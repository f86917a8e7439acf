#!/usr/bin/env bash
# continuum-demo refuses stream sizes that need more images than
# Fashion-MNIST's training set holds (it once read past the end of its
# arrays: "class 17969 is outside [0, 10)") and sizes too small for its
# measurements, before it contacts any service.
# Usage: demo_flags_test.sh BIN_DIR   (exit 77 = skipped)
set -euo pipefail
bin_dir="$1"
if [ ! -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "SKIP: Fashion-MNIST missing (apt-get install dataset-fashion-mnist)"
  exit 77
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/demo_flags.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# Endpoints nobody listens on: the refusal must come first.
for s in REGISTRY COLLECTOR TRAINER DRIFT INFERENCE; do
  echo "CONTINUUM_$s=127.0.0.1:1"
done >"$work/endpoints.env"
refused() {  # EXPECTED FLAGS...
  local expected="$1" rc=0
  shift
  "$bin_dir/continuum-demo" --endpoints="$work/endpoints.env" \
    --out_dir="$work/out" "$@" >"$work/out.log" 2>&1 || rc=$?
  cat "$work/out.log"
  [ "$rc" -ne 0 ] || { echo "FAIL: continuum-demo $* exited 0"; exit 1; }
  grep -qF -- "$expected" "$work/out.log" ||
    { echo "FAIL: continuum-demo $* does not say '$expected'"; exit 1; }
}
refused "need 67500 images, but the training set has 60000" --b_batches=600
refused "need 60001 images" --cold_start_rows=24001 --a_batches=20 --b_batches=340
refused "--b_batches at least 10" --b_batches=5
refused "--a_batches at least 5" --a_batches=0
echo PASS
