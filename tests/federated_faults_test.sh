#!/usr/bin/env bash
# Federated rounds survive failures, with real processes
# (deploy/local/continuum-federation --keep-going, three sites):
#  0. A coordinator without evaluation data refuses to open a round.
#  1. A participant killed with SIGKILL mid-round (an outside process that
#     joined and then dies, tests/federated_attacker.py hang): the round
#     drops it at its submit deadline (5 s) and completes with the three
#     sites; nothing hangs.
#  2. The coordinator killed with SIGKILL mid-round (a round held open by a
#     participant that never submits): restarted on the same port with the
#     same arguments, it marks the round FAILED ("interrupted by a
#     coordinator restart ... the production version is untouched"),
#     production is unchanged, and the next round completes: the sites'
#     loops find the coordinator again by themselves.
# Usage: federated_faults_test.sh BIN_DIR PYTHON_DIR
set -euo pipefail
bin_dir="$1"
python_dir="$2"
root="$(cd "$(dirname "$0")/.." && pwd)"
py=/usr/bin/python3
ctl="$bin_dir/continuumctl"
work="$(mktemp -d "${TMPDIR:-/tmp}/federated_faults_test.XXXXXX")"
# shellcheck source=util/federation.sh
. "$root/tests/util/federation.sh"
extra_pids=()
cleanup() {
  for p in "${extra_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  stop_federation
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
field() {  # field ROUND PYTHON_EXPR(r): a value of the round's JSON
  "$ctl" federated round "$1" --json |
    "$py" -c "import json,sys; r = json.load(sys.stdin); print($2)"
}
wait_state() {  # wait_state ROUND STATE SECONDS
  local deadline=$((SECONDS + $3)) state=""
  while :; do
    state="$(field "$1" 'r.get("state", "")' 2>/dev/null || true)"
    [ "$state" = "$2" ] && return 0
    if [ $SECONDS -ge $deadline ]; then
      echo "$1 is $state, not $2, after $3 s"; "$ctl" federated round "$1" || true
      tail -n 20 "$work/fed/logs/trainer.log"; return 1
    fi
    sleep 0.3
  done
}

start_federation "$root" "$bin_dir" "$work" --sites 3 --model fed --keep-going

# A small problem: two classes of 6 features, 300 rows per site.
"$py" - "$work" <<'PY'
import random, sys
rng = random.Random(5)
header = "id,label," + ",".join("f%d" % f for f in range(6))
for site in (1, 2, 3):
    with open(f"{sys.argv[1]}/site{site}.csv", "w") as out:
        print(header, file=out)
        for i in range(300):
            c = i % 2
            print(",".join([f"s{site}-{i}", str(c)] +
                           ["%.3f" % (rng.gauss(1.5 if c else -1.5, 1.0)) for _ in range(6)]),
                  file=out)
PY
load_shards "$ctl" "$work" 3 6 2 >/dev/null
deploy_first_version "$ctl" "$work" 6 2 8 3 >/dev/null
# The coordinator evaluates candidates on its own data: without it a round
# does not even open.
out="$("$ctl" federated start --model=fed 2>&1)" && { echo "a round opened without evaluation data"; exit 1; }
expect "FAILED_PRECONDITION|evaluates each round's candidate on data set fed of its own collector" "$out"
sed 's/^s1-/eval-/' "$work/site1.csv" >"$work/eval.csv"
load_evaluation_set "$ctl" "$work" 6 2 >/dev/null

# start_held_round N: round N with a fourth participant that joins and
# never submits; returns once it joined (its pid in $hang_pid).
start_held_round() {
  local n=$1 submit=$2
  cat >"$work/round$n.pbtxt" <<EOF
min_sites: 3 max_sites: 4 local_epochs: 3 local_learning_rate: 0.01
join_timeout { seconds: 60 } submit_timeout { seconds: $submit }
EOF
  "$py" "$root/tests/federated_attacker.py" "$python_dir" "$CONTINUUM_TRAINER" \
    fed "slow-$n" hang >"$work/hang$n.out" 2>&1 &
  hang_pid=$!
  extra_pids+=("$hang_pid")
  out="$("$ctl" federated start --model=fed --round_config="$work/round$n.pbtxt")"
  echo "$out"
  expect "^opened models/fed/rounds/$n " "$out"
  local deadline=$((SECONDS + 60))
  until grep -q '^joined' "$work/hang$n.out"; do
    [ $SECONDS -lt $deadline ] || { echo "slow-$n never joined:"; cat "$work/hang$n.out"; exit 1; }
    sleep 0.2
  done
}

# 1. A participant dies mid-round.
start_held_round 1 5
kill -KILL "$hang_pid"
wait_state models/fed/rounds/1 ROUND_STATE_COMPLETED 120
"$ctl" federated round models/fed/rounds/1
dropped="$(field models/fed/rounds/1 '[p["state"] for p in r["participants"] if p["site_id"] == "slow-1"][0] + " " + [p.get("reason", "") for p in r["participants"] if p["site_id"] == "slow-1"][0]')"
expect "^PARTICIPANT_STATE_DROPPED no update before the submit deadline$" "$dropped"
production="$("$ctl" models get --model=fed --json |
  "$py" -c 'import json,sys; print(json.load(sys.stdin).get("production_version", 0))')"
echo "after round 1: production version $production"

# 2. The coordinator dies mid-round.
start_held_round 2 600
# Wait until the three sites submitted (the round waits for slow-2).
deadline=$((SECONDS + 60))
until [ "$(field models/fed/rounds/2 'sum(1 for p in r["participants"] if p["state"] == "PARTICIPANT_STATE_SUBMITTED")')" = 3 ]; do
  [ $SECONDS -lt $deadline ] || { echo "the sites did not submit to round 2"; exit 1; }
  sleep 0.3
done
coordinator_pid="$(awk '$1 == "trainer" && $2 == "pid" {print $3}' "$work/fed/continuum-federation.lock" | tail -n 1)"
port="$(tr -d '[:space:]' <"$work/fed/run/trainer.port")"
mapfile -d '' args <"/proc/$coordinator_pid/cmdline"
kill -KILL "$coordinator_pid"
while kill -0 "$coordinator_pid" 2>/dev/null; do sleep 0.1; done
echo "killed the coordinator (pid $coordinator_pid); restarting it on port $port"
"${args[@]}" --listen="127.0.0.1:$port" >>"$work/fed/logs/trainer.out" 2>>"$work/fed/logs/trainer.log" &
extra_pids+=("$!")
"$ctl" health --target="127.0.0.1:$port" --wait --timeout=60s
wait_state models/fed/rounds/2 ROUND_STATE_FAILED 30
error="$(field models/fed/rounds/2 'r["error"]["message"]')"
echo "round 2: $error"
expect "^interrupted by a coordinator restart \(it was ROUND_STATE_TRAINING\); the production version is untouched$" "$error"
now="$("$ctl" models get --model=fed --json |
  "$py" -c 'import json,sys; print(json.load(sys.stdin).get("production_version", 0))')"
[ "$now" = "$production" ] || { echo "production moved from $production to $now"; exit 1; }
kill -KILL "$hang_pid" 2>/dev/null || true

# The next round completes with the three sites, which found the restarted
# coordinator by themselves.
out="$("$ctl" federated start --model=fed --min_sites=3 --max_sites=3 --epochs=3)"
echo "$out"
expect "^opened models/fed/rounds/3 " "$out"
wait_state models/fed/rounds/3 ROUND_STATE_COMPLETED 120
"$ctl" federated rounds --model=fed
echo "1 passed, 0 failed"
