#!/usr/bin/env bash
# Federated learning end to end with real processes
# (deploy/local/continuum-federation): a registry, a coordinator trainer with
# its own collector (its evaluation set, balanced), and three site trainers,
# each with a collector holding a label-skewed shard (classes drawn from a
# seeded Dirichlet(0.5) per site) that never leaves it. Three FedAvg rounds
# started with `continuumctl federated start`: every site joins, trains on
# its shard and sends its update; the coordinator aggregates, and each
# round's candidate is evaluated on the coordinator's data, gated by the
# registry and deployed as any run's. Checks: every round COMPLETED with a
# new production version whose accuracy on the coordinator's evaluation set
# beats the first version's by far; the sites' records are nowhere in the
# coordinator's state (its collector holds only its own records, and no site
# record id appears in any of its files); a site that is excluded cannot
# join (PERMISSION_DENIED) until readmitted, and every exclusion and
# readmission is in the registry's audit log.
# Then, through the same processes: a round under secure aggregation (the
# coordinator sees no single update's norm); a plain and a secure round
# from the same base with the sites' training seeded, whose aggregates
# agree up to the fixed-point quantisation; a round with differential
# privacy (the epsilon it reports equals `continuumctl federated epsilon`'s
# for the same noise, rate and steps), and a round with a Byzantine
# participant (tests/federated_attacker.py, an outside process sending a
# random update of norm 30) under Multi-Krum with outlier exclusion: the attacker
# is left out of the aggregate and excluded from later rounds, and the
# candidate stays accurate.
# Usage: federated_e2e_test.sh BIN_DIR PYTHON_DIR
set -euo pipefail
bin_dir="$1"
python_dir="$2"
root="$(cd "$(dirname "$0")/.." && pwd)"
py=/usr/bin/python3
ctl="$bin_dir/continuumctl"
work="$(mktemp -d "${TMPDIR:-/tmp}/federated_e2e_test.XXXXXX")"
# shellcheck source=util/federation.sh
. "$root/tests/util/federation.sh"
cleanup() {
  stop_federation
  rm -rf "$work"
}
trap cleanup EXIT


start_federation "$root" "$bin_dir" "$work" --sites 3 --model fed
cat "$work/fed.out"

# Four classes of 12 features around class prototypes; each site's class
# mix from Dirichlet(0.5), seeded; the coordinator's set balanced.
"$py" - "$work" <<'PY'
import random, sys
work = sys.argv[1]
rng = random.Random(17)
protos = [[rng.gauss(0, 1.5) for _ in range(12)] for _ in range(4)]
def row(rid, c):
    return [rid, str(c)] + ["%.4f" % (protos[c][f] + rng.gauss(0, 2.5)) for f in range(12)]
header = "id,label," + ",".join("f%d" % f for f in range(12))
for site in (1, 2, 3):
    mix = [rng.gammavariate(0.5, 1) for _ in range(4)]
    total = sum(mix)
    mix = [m / total for m in mix]
    with open(f"{work}/site{site}.csv", "w") as out:
        print(header, file=out)
        for i in range(600):
            c = rng.choices(range(4), weights=mix)[0]
            print(",".join(row(f"s{site}-r{i}", c)), file=out)
    print(f"site-{site} class mix: " + " ".join("%.2f" % m for m in mix))
with open(f"{work}/eval.csv", "w") as out:
    print(header, file=out)
    for i in range(800):
        print(",".join(row(f"eval-r{i}", i % 4)), file=out)
PY

load_shards "$ctl" "$work" 3 12 4
load_evaluation_set "$ctl" "$work" 12 4

# Version 1: fresh weights, in production at once.
out="$(deploy_first_version "$ctl" "$work" 12 4 32 5)"
expect "^uploaded models/fed/versions/1 \(PRODUCTION" "$out"

# wait_round N: until round N of fed is COMPLETED (or fail if it FAILED).
wait_round() {
  local n=$1 deadline=$((SECONDS + 180)) state=""
  while :; do
    state="$("$ctl" federated round "models/fed/rounds/$n" --json |
      "$py" -c 'import json,sys; print(json.load(sys.stdin).get("state",""))')"
    case "$state" in
      ROUND_STATE_COMPLETED) return 0 ;;
      ROUND_STATE_FAILED)
        "$ctl" federated round "models/fed/rounds/$n"; return 1 ;;
    esac
    if [ $SECONDS -ge $deadline ]; then
      echo "round $n is still $state after 180 s"
      "$ctl" federated round "models/fed/rounds/$n"
      tail -n 30 "$work"/fed/logs/trainer.log "$work"/fed/logs/site-1-trainer.log
      return 1
    fi
    sleep 0.5
  done
}

# Each round's candidate is uploaded; the registry's gates approve it
# (it becomes production and the next round's base) or reject it (the
# round still COMPLETED; production stays).
production=1
best=""
first_base=""
for n in 1 2 3; do
  out="$("$ctl" federated start --model=fed --min_sites=3 --max_sites=3 \
    --epochs=5 --learning_rate=0.01 --reason="e2e round $n")"
  echo "$out"
  expect "^opened models/fed/rounds/$n on version $production " "$out"
  wait_round "$n"
  "$ctl" federated round "models/fed/rounds/$n"
  json="$("$ctl" federated round "models/fed/rounds/$n" --json)"
  version="$("$py" -c 'import json,sys; print(json.load(sys.stdin)["result_version"]["version"])' <<<"$json")"
  run="$("$py" -c 'import json,sys; print(json.load(sys.stdin)["run"])' <<<"$json")"
  run_json="$("$ctl" trainer run "$run" --json)"
  read -r state acc base <<<"$("$py" -c '
import json, sys
r = json.load(sys.stdin)
ev = [e for e in r["report"]["evaluations"] if e["evaluation_set"] == "held_out"][0]
print(r["state"], ev["candidate"].get("accuracy", 0), ev["baseline"].get("accuracy", 0))' <<<"$run_json")"
  echo "round $n: run $run $state, candidate version $version, accuracy on the coordinator's set $acc (base $base)"
  [ -n "$first_base" ] || first_base="$base"
  case "$state" in
    RUN_STATE_SUCCEEDED) production="$version"; best="$acc" ;;
    RUN_STATE_REJECTED) [ "$n" -gt 1 ] || { echo "the first round's candidate was rejected"; echo "$run_json"; exit 1; } ;;
    *) echo "$run_json"; exit 1 ;;
  esac
done
"$ctl" versions list --model=fed
"$py" -c 'import sys
first, last = float(sys.argv[1]), float(sys.argv[2])
print("accuracy on the coordinator set: version 1 %.3f, production after 3 rounds %.3f" % (first, last))
sys.exit(0 if last >= 0.8 and last > first + 0.3 else 1)' "$first_base" "$best" ||
  { echo "the federation did not learn"; exit 1; }

# run_accuracy ROUND: the state and held-out accuracy of the round's run.
run_accuracy() {
  local run
  run="$("$ctl" federated round "$1" --json |
    "$py" -c 'import json,sys; print(json.load(sys.stdin)["run"])')"
  "$ctl" trainer run "$run" --json | "$py" -c '
import json, sys
r = json.load(sys.stdin)
ev = [e for e in r["report"]["evaluations"] if e["evaluation_set"] == "held_out"][0]
print(r["state"], ev["candidate"].get("accuracy", 0))'
}
# approved STATE VERSION: production moves on an approved candidate.
approved() {
  [ "$1" = RUN_STATE_SUCCEEDED ] && production="$2"
  return 0
}
round_version() {
  "$ctl" federated round "$1" --json |
    "$py" -c 'import json,sys; print(json.load(sys.stdin)["result_version"]["version"])'
}

# Secure aggregation: masked updates; the coordinator never sees a norm.
cat >"$work/secure.pbtxt" <<'EOF'
secure_aggregation { enabled: true }
min_sites: 3 max_sites: 3 local_epochs: 5 local_learning_rate: 0.01
EOF
out="$("$ctl" federated start --model=fed --round_config="$work/secure.pbtxt")"
expect "^opened models/fed/rounds/4 on version $production " "$out"
wait_round 4
json="$("$ctl" federated round models/fed/rounds/4 --json)"
if grep -q '"update_norm"' <<<"$json"; then
  echo "the coordinator saw an update's norm under secure aggregation:"; echo "$json"; exit 1
fi
read -r state acc <<<"$(run_accuracy models/fed/rounds/4)"
echo "secure round: run $state, accuracy $acc"
"$py" -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= 0.8 else 1)' "$acc" ||
  { echo "the securely aggregated candidate is not accurate"; exit 1; }
approved "$state" "$(round_version models/fed/rounds/4)"

# The masked sum equals the plain one: a plain and a secure round from the
# same base, with the sites' training seeded (TrainingConfig.seed on each
# site's trainer) so that each site sends the same update twice, and every
# candidate rejected meanwhile (the model's validation policy asks for more
# evaluation rows than exist) so that production, the base, stays. The
# aggregates' norms agree up to the fixed-point quantisation, and so do the
# two candidates' accuracies.
"$py" - "$python_dir" "$CONTINUUM_REGISTRY" 1000000 $(for i in 1 2 3; do eval echo "\$SITE_${i}_TRAINER"; done) <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import grpc
from google.protobuf import field_mask_pb2
from continuum.v1 import registry_pb2, registry_pb2_grpc, trainer_pb2, trainer_pb2_grpc
registry, rows, sites = sys.argv[2], int(sys.argv[3]), sys.argv[4:]
registry_pb2_grpc.RegistryServiceStub(grpc.insecure_channel(registry)).UpdateModel(
    registry_pb2.UpdateModelRequest(
        model=registry_pb2.Model(name="models/fed", validation_policy=registry_pb2.ValidationPolicy(min_sample_count=rows)),
        update_mask=field_mask_pb2.FieldMask(paths=["validation_policy.min_sample_count"]),
        reason="e2e: hold production while a plain and a secure round are compared"), timeout=10)
for site in sites:
    trainer_pb2_grpc.TrainerServiceStub(grpc.insecure_channel(site)).ConfigureTraining(
        trainer_pb2.ConfigureTrainingRequest(
            config=trainer_pb2.TrainingConfig(name="models/fed/trainingConfig", seed=11),
            update_mask=field_mask_pb2.FieldMask(paths=["seed"])), timeout=10)
PY
cat >"$work/plain.pbtxt" <<'EOF'
min_sites: 3 max_sites: 3 local_epochs: 5 local_learning_rate: 0.01
EOF
norms=()
accs=()
for n in 5 6; do
  config="$work/plain.pbtxt"
  [ "$n" = 6 ] && config="$work/secure.pbtxt"
  out="$("$ctl" federated start --model=fed --round_config="$config")"
  expect "^opened models/fed/rounds/$n on version $production " "$out"
  wait_round "$n"
  read -r state acc <<<"$(run_accuracy "models/fed/rounds/$n")"
  [ "$state" = RUN_STATE_REJECTED ] || { echo "round $n's candidate was not held back: $state"; exit 1; }
  norms+=("$("$ctl" federated round "models/fed/rounds/$n" --json |
    "$py" -c 'import json,sys; print(json.load(sys.stdin)["aggregate_norm"])')")
  accs+=("$acc")
done
echo "plain round 5: aggregate norm ${norms[0]}, candidate ${accs[0]}; secure round 6: aggregate norm ${norms[1]}, candidate ${accs[1]}"
"$py" -c '
import sys
p, s, pa, sa = map(float, sys.argv[1:])
sys.exit(0 if abs(p - s) <= 1e-4 * p + 1e-4 and abs(pa - sa) <= 0.005 else 1)' \
  "${norms[0]}" "${norms[1]}" "${accs[0]}" "${accs[1]}" ||
  { echo "the securely aggregated round differs from the plain one"; exit 1; }
"$py" - "$python_dir" "$CONTINUUM_REGISTRY" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import grpc
from google.protobuf import field_mask_pb2
from continuum.v1 import registry_pb2, registry_pb2_grpc
registry_pb2_grpc.RegistryServiceStub(grpc.insecure_channel(sys.argv[2])).UpdateModel(
    registry_pb2.UpdateModelRequest(
        model=registry_pb2.Model(name="models/fed"),
        update_mask=field_mask_pb2.FieldMask(paths=["validation_policy.min_sample_count"]),
        reason="e2e: comparison done"), timeout=10)
PY

# Differential privacy: the round reports the accountant's epsilon.
cat >"$work/dp.pbtxt" <<'EOF'
differential_privacy { enabled: true clip_norm: 2.0 noise_multiplier: 0.8 }
min_sites: 3 max_sites: 3 local_epochs: 5 local_learning_rate: 0.01
EOF
out="$("$ctl" federated start --model=fed --round_config="$work/dp.pbtxt")"
expect "^opened models/fed/rounds/7 on version $production " "$out"
wait_round 7
epsilon="$("$ctl" federated round models/fed/rounds/7 --json |
  "$py" -c 'import json,sys; print(json.load(sys.stdin)["privacy"]["epsilon"])')"
planned="$("$ctl" federated epsilon --noise=0.8 --sample_rate=1 --steps=1 --json |
  "$py" -c 'import json,sys; print(json.load(sys.stdin)["epsilon"])')"
echo "DP round: epsilon $epsilon (planned $planned)"
"$py" -c 'import sys; sys.exit(0 if abs(float(sys.argv[1]) - float(sys.argv[2])) < 1e-6 else 1)' \
  "$epsilon" "$planned" || { echo "the round's epsilon is not the accountant's"; exit 1; }
read -r state acc <<<"$(run_accuracy models/fed/rounds/7)"
echo "DP round: run $state, accuracy $acc"
approved "$state" "$(round_version models/fed/rounds/7)"

# A Byzantine participant under Multi-Krum with outlier exclusion. (Plain
# Krum keeps one site's update: with label-skewed shards that candidate is
# less accurate, 0.785 in one run, however well the attacker is kept out.)
cat >"$work/krum.pbtxt" <<'EOF'
aggregation: AGGREGATION_MULTI_KRUM
outlier_exclusion { enabled: true exclude_after: 1 }
min_sites: 3 max_sites: 4 local_epochs: 5 local_learning_rate: 0.01
EOF
"$py" "$root/tests/federated_attacker.py" "$python_dir" "$CONTINUUM_TRAINER" \
  fed mallory 30 >"$work/attacker.out" 2>&1 &
attacker=$!
out="$("$ctl" federated start --model=fed --round_config="$work/krum.pbtxt")"
expect "^opened models/fed/rounds/8 on version $production " "$out"
wait_round 8
wait "$attacker" || { echo "the attacker failed:"; cat "$work/attacker.out"; exit 1; }
cat "$work/attacker.out"
"$ctl" federated round models/fed/rounds/8
json="$("$ctl" federated round models/fed/rounds/8 --json)"
"$py" -c '
import json, sys
r = json.load(sys.stdin)
m = [p for p in r["participants"] if p["site_id"] == "mallory"][0]
sys.exit(0 if m["state"] == "PARTICIPANT_STATE_EXCLUDED" else 1)' <<<"$json" ||
  { echo "the attacker was not excluded from the aggregate"; exit 1; }
read -r state acc <<<"$(run_accuracy models/fed/rounds/8)"
echo "Byzantine round: run $state, accuracy $acc"
"$py" -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= 0.8 else 1)' "$acc" ||
  { echo "the attacker dragged the candidate down"; exit 1; }
approved "$state" "$(round_version models/fed/rounds/8)"
out="$("$ctl" federated sites --filter='trust = EXCLUDED')"
echo "$out"
expect "sites/mallory +EXCLUDED .*outlier in 1 rounds in a row" "$out"

# Nothing but updates left the sites.
"$ctl" datasets stats --dataset=fed | tee "$work/stats.txt"
grep -qE '800' "$work/stats.txt" || { echo "the coordinator's collector holds other records"; exit 1; }
if grep -rlaE 's[123]-r[0-9]+' "$work/fed/collector" "$work/fed/trainer" "$work/fed/registry"; then
  echo "a site's record id is in the coordinator's or the registry's state (above)"
  exit 1
fi

# Trust: an excluded site cannot join until readmitted.
out="$("$ctl" federated exclude site-3 --reason="e2e: suspected poisoning")"
expect "^sites/site-3 is EXCLUDED" "$out"
"$ctl" federated sites
out="$("$ctl" federated start --model=fed --min_sites=2 --max_sites=2)"
expect "^opened models/fed/rounds/9 on version $production " "$out"
wait_round 9
json="$("$ctl" federated round models/fed/rounds/9 --json)"
grep -q '"site-3"' <<<"$json" && { echo "an excluded site joined:"; echo "$json"; exit 1; }
deadline=$((SECONDS + 60))
until grep -q 'site site-3 is excluded' "$work/fed/logs/site-3-trainer.log"; do
  if [ $SECONDS -ge $deadline ]; then
    echo "site-3 was not told it is excluded"
    tail -n 20 "$work/fed/logs/site-3-trainer.log"
    exit 1
  fi
  sleep 0.5
done
out="$("$ctl" federated readmit site-3)"
expect "^sites/site-3 is TRUSTED" "$out"
# Every exclusion and readmission is in the registry's audit log: the
# attacker's (automatic, with its score), the operator's of site-3 and its
# readmission; the chain verifies.
expect_audit "$ctl" 'object = "sites/mallory"' \
  '"action":"federated.site.exclude".*outlier_score[^0-9]+[0-9]'
expect_audit "$ctl" 'object = "sites/site-3"' \
  '"action":"federated.site.exclude".*e2e: suspected poisoning'
expect_audit "$ctl" 'object = "sites/site-3"' '"action":"federated.site.readmit"'
out="$("$ctl" audit verify)"
expect "^audit chain verified" "$out"
echo "1 passed, 0 failed"
