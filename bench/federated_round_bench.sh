#!/usr/bin/env bash
# One federated round's phases with real processes
# (deploy/local/continuum-federation: a registry, a coordinator trainer with
# its collector, N site trainers each with its own collector holding a
# label-skewed shard of a synthetic 4-class problem). Runs R FedAvg rounds
# and prints where each round's time went, as the coordinator records it
# (Round.phases: join, download, local training, upload, aggregation,
# validation and gates; a site phase is the slowest site's), and names the
# slowest phase. The reference, measured in the same run, is the local
# training itself: the ratio round / local training is what the federation
# adds around the work the sites would do anyway.
#
# Usage: federated_round_bench.sh BIN_DIR PYTHON_DIR [--sites=N]
#          [--rounds=R] [--rows=ROWS_PER_SITE] [--json]
# With --json the last line is one JSON object with the figures.
set -euo pipefail
bin_dir="$(cd "$1" && pwd)"
python_dir="$(cd "$2" && pwd)"
shift 2
sites=3 rounds=3 rows=2000 json=""
for arg in "$@"; do
  case "$arg" in
    --sites=*) sites="${arg#*=}" ;;
    --rounds=*) rounds="${arg#*=}" ;;
    --rows=*) rows="${arg#*=}" ;;
    --json) json=1 ;;
    *) echo "unknown argument $arg" >&2; exit 2 ;;
  esac
done
root="$(cd "$(dirname "$0")/.." && pwd)"
py=/usr/bin/python3
ctl="$bin_dir/continuumctl"
work="$(mktemp -d "${TMPDIR:-/tmp}/federated_round_bench.XXXXXX")"
# shellcheck source=../tests/util/federation.sh
. "$root/tests/util/federation.sh"
cleanup() {
  stop_federation
  rm -rf "$work"
}
trap cleanup EXIT

start_federation "$root" "$bin_dir" "$work" --sites "$sites" --model fed >&2

"$py" - "$work" "$sites" "$rows" <<'PY'
import random, sys
work, sites, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(23)
protos = [[rng.gauss(0, 1.5) for _ in range(12)] for _ in range(4)]
def row(rid, c):
    return [rid, str(c)] + ["%.4f" % (protos[c][f] + rng.gauss(0, 2.5)) for f in range(12)]
header = "id,label," + ",".join("f%d" % f for f in range(12))
for site in range(1, sites + 1):
    mix = [rng.gammavariate(0.5, 1) for _ in range(4)]
    with open(f"{work}/site{site}.csv", "w") as out:
        print(header, file=out)
        for i in range(rows):
            c = rng.choices(range(4), weights=mix)[0]
            print(",".join(row(f"s{site}-r{i}", c)), file=out)
with open(f"{work}/eval.csv", "w") as out:
    print(header, file=out)
    for i in range(800):
        print(",".join(row(f"eval-r{i}", i % 4)), file=out)
PY
load_shards "$ctl" "$work" "$sites" 12 4 >/dev/null
load_evaluation_set "$ctl" "$work" 12 4 >/dev/null
deploy_first_version "$ctl" "$work" 12 4 64 5 >/dev/null

for n in $(seq 1 "$rounds"); do
  "$ctl" federated start --model=fed --min_sites="$sites" --max_sites="$sites" \
    --epochs=3 --learning_rate=0.01 --reason="bench round $n" >/dev/null
  deadline=$((SECONDS + 300))
  while :; do
    "$ctl" federated round "models/fed/rounds/$n" --json >"$work/round$n.json"
    state="$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("state",""))' "$work/round$n.json")"
    [ "$state" = ROUND_STATE_COMPLETED ] && break
    if [ "$state" = ROUND_STATE_FAILED ] || [ $SECONDS -ge $deadline ]; then
      echo "round $n is $state" >&2
      "$ctl" federated round "models/fed/rounds/$n" >&2
      exit 1
    fi
    sleep 0.2
  done
done

"$py" - "$work" "$rounds" "$sites" "$rows" "$json" <<'PY'
import json, sys
work, rounds, sites, rows, as_json = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
def seconds(d):
    # Durations come as JSON strings "1.250s".
    return float(d.rstrip("s")) if isinstance(d, str) and d else 0.0
def stamp(t):
    # RFC 3339 with up to 9 fractional digits; datetime takes 6.
    import re
    from datetime import datetime
    t = re.sub(r"(\.\d{6})\d+", r"\1", t.replace("Z", "+00:00"))
    return datetime.fromisoformat(t).timestamp()
names = [("join", "join"), ("download", "download"),
         ("local training", "local_training"), ("upload", "upload"),
         ("aggregation", "aggregation"), ("validation and gates", "validation")]
per_round = []
for n in range(1, rounds + 1):
    r = json.load(open(f"{work}/round{n}.json"))
    ph = r.get("phases", {})
    phases = {label: seconds(ph.get(key, "")) for label, key in names}
    total = stamp(r["end_time"]) - stamp(r["create_time"])
    per_round.append((total, phases))
# The first round pays for cold caches; report the mean of the rest when
# there are several.
steady = per_round[1:] if len(per_round) > 1 else per_round
mean_total = sum(t for t, _ in steady) / len(steady)
mean = {label: sum(p[label] for _, p in steady) / len(steady) for label, _ in names}
slowest = max(mean, key=mean.get)
local = mean["local training"]
print(f"federated round, {sites} sites x {rows} rows, 12 features, MLP 12-64-4, "
      f"3 local epochs; mean of rounds {2 if len(per_round) > 1 else 1}..{rounds}")
print(f"{'phase':<24}{'seconds':>10}{'share':>9}")
for label, _ in names:
    share = mean[label] / mean_total if mean_total > 0 else 0
    print(f"{label:<24}{mean[label]:>10.3f}{share:>8.0%} ")
other = mean_total - sum(mean.values())
print(f"{'between phases':<24}{other:>10.3f}{(other / mean_total if mean_total else 0):>8.0%} ")
print(f"{'round, open to end':<24}{mean_total:>10.3f}")
ratio = mean_total / local if local > 0 else float("inf")
print(f"slowest phase: {slowest}; round / local training (reference, same run): {ratio:.2f}x")
if as_json:
    print(json.dumps({
        "benchmark": "federated_round", "sites": sites, "rows_per_site": rows,
        "rounds": rounds, "round_seconds": round(mean_total, 4),
        "phases_seconds": {k: round(v, 4) for k, v in mean.items()},
        "slowest_phase": slowest,
        "reference_local_training_seconds": round(local, 4),
        "round_over_local_training": round(ratio, 3),
        "first_round_seconds": round(per_round[0][0], 4)}))
PY
