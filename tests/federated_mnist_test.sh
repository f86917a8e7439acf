#!/usr/bin/env bash
# Federated learning on Fashion-MNIST as docs/federated.md shows it: the
# federated scenario of the demo (deploy/local/demo --scenario=federated:
# five site trainers with their own collectors holding label-skewed shards
# of 2000 training images each, class mixes from a seeded Dirichlet(0.5),
# and a coordinator evaluating on 2000 test images) runs 12 FedAvg rounds
# beside a model trained centrally on the union of the shards. The best
# federated production candidate must come within 5 points of the central
# model's accuracy on the same test images, and the report (summary.md,
# rounds.csv, accuracy.svg) must be written.
# Usage: federated_mnist_test.sh BIN_DIR
set -euo pipefail
bin_dir="$1"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/federated_mnist_test.XXXXXX")"
trap 'rm -rf "$work"' EXIT
if [ ! -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "skipped: dataset-fashion-mnist is not installed (scripts/install-deps installs it)"
  exit 77
fi
"$root/deploy/local/demo" --bin-dir "$bin_dir" --scenario=federated --sites 5 \
  --out "$work/report" -- --rounds 12 --epochs 2 --learning-rate 0.003 \
  | tee "$work/demo.out"
for f in summary.md rounds.csv accuracy.svg; do
  [ -s "$work/report/$f" ] || { echo "the report has no $f"; exit 1; }
done
[ "$(wc -l <"$work/report/rounds.csv")" -eq 13 ] || { echo "rounds.csv:"; cat "$work/report/rounds.csv"; exit 1; }
read -r _ central _ federated <<<"$(grep '^CENTRAL ' "$work/demo.out")"
/usr/bin/python3 -c 'import sys
c, f = float(sys.argv[1]), float(sys.argv[2])
print("central %.4f, federated %.4f (%+.1f points)" % (c, f, (f - c) * 100))
sys.exit(0 if f >= c - 0.05 else 1)' "$central" "$federated" ||
  { echo "the federation is more than 5 points below the central model"; exit 1; }
echo "1 passed, 0 failed"
