# Sourced by the tests that run a federation with
# deploy/local/continuum-federation (federated_e2e_test.sh,
# federated_faults_test.sh).
#
# start_federation ROOT BIN_DIR WORK [LAUNCHER ARGS...] starts the launcher
# with its state in WORK/fed and its output in WORK/fed.out, sets `fed_pid`,
# waits (at most 120 s) until it prints "endpoints:", then exports
# CONTINUUM_ENDPOINTS and the addresses of WORK/fed/federation.env; if the
# launcher exits or the time passes first, prints its output and the
# processes' last log lines and returns 1. stop_federation (for an EXIT
# trap) sends SIGTERM and waits, if it still runs. expect REGEX OUTPUT
# exits 1, showing OUTPUT, unless OUTPUT matches REGEX; expect_audit (below)
# waits for an entry of the registry's audit log.

fed_pid=""

expect() {
  grep -qE -- "$1" <<<"$2" || { echo "missing: /$1/ in:"; echo "$2"; exit 1; }
}

# expect_audit CTL FILTER REGEX: waits up to 30 s for the registry's audit
# export filtered by FILTER to match REGEX (the coordinator delivers its
# exclusions at its next tick), then prints the matching entries.
expect_audit() {
  local ctl="$1" filter="$2" regex="$3" out="" deadline=$((SECONDS + 30))
  while true; do
    out="$("$ctl" audit export --filter="$filter")"
    if grep -qE -- "$regex" <<<"$out"; then
      grep -E -- "$regex" <<<"$out"
      return 0
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "missing in the registry's audit log: /$regex/ in:"
      echo "$out"
      exit 1
    fi
    sleep 0.5
  done
}

# load_shards CTL WORK SITES FEATURES CLASSES: data set "fed" on each
# site's collector, with that site's shard WORK/siteI.csv (ingest's last
# line printed per site).
load_shards() {
  local ctl="$1" work="$2" sites="$3" features="$4" classes="$5" i target
  for i in $(seq 1 "$sites"); do
    target="$(eval echo "\$SITE_${i}_COLLECTOR")"
    "$ctl" datasets create --target="$target" --dataset=fed \
      --features="$features" --classes="$classes" >/dev/null
    "$ctl" ingest --target="$target" --dataset=fed --csv="$work/site$i.csv" |
      tail -n 1
  done
}

# load_evaluation_set CTL WORK FEATURES CLASSES: data set "fed" on the
# coordinator's collector, with WORK/eval.csv (what it evaluates candidates
# on).
load_evaluation_set() {
  local ctl="$1" work="$2" features="$3" classes="$4"
  "$ctl" datasets create --dataset=fed --features="$features" \
    --classes="$classes" >/dev/null
  "$ctl" ingest --dataset=fed --csv="$work/eval.csv" | tail -n 1
}

# deploy_first_version CTL WORK FEATURES CLASSES HIDDEN SEED: model "fed"
# (immediate plan) with fresh MLP weights as version 1 in production;
# prints the upload's answer.
deploy_first_version() {
  local ctl="$1" work="$2" features="$3" classes="$4" hidden="$5" seed="$6"
  "$ctl" model init --family=mlp_classifier --inputs="$features" \
    --classes="$classes" --hidden="$hidden" --seed="$seed" \
    --output="$work/v1.bundle" >/dev/null
  "$ctl" models register --model=fed --family=mlp_classifier \
    --plan=immediate >/dev/null
  echo '{"evaluations": [{"evaluationSet": "held_out", "candidate": {"loss": 1.4, "accuracy": 0.25, "sampleCount": 100}}]}' \
    >"$work/report.json"
  "$ctl" upload --model=fed --file="$work/v1.bundle" --report="$work/report.json"
}

start_federation() {
  local root="$1" bin_dir="$2" work="$3"
  shift 3
  "$root/deploy/local/continuum-federation" --bin-dir "$bin_dir" \
    --data-dir "$work/fed" "$@" >"$work/fed.out" 2>&1 &
  fed_pid=$!
  local deadline=$((SECONDS + 120))
  until grep -q '^endpoints:' "$work/fed.out" 2>/dev/null; do
    if ! kill -0 "$fed_pid" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      echo "the federation did not start:"
      cat "$work/fed.out"
      tail -n 20 "$work"/fed/logs/*.log 2>/dev/null || true
      return 1
    fi
    sleep 0.2
  done
  export CONTINUUM_ENDPOINTS="$work/fed/federation.env"
  set -a
  # shellcheck disable=SC1091
  . "$work/fed/federation.env"
  set +a
}

stop_federation() {
  if [ -n "$fed_pid" ]; then
    kill -TERM "$fed_pid" 2>/dev/null || true
    wait "$fed_pid" 2>/dev/null || true
    fed_pid=""
  fi
}
