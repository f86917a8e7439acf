# Sourced by the tests that run the five real services with
# deploy/local/continuum-up (python_client_test.sh, conformance/run.sh).
#
# start_services ROOT BIN_DIR WORK starts continuum-up with its data in
# WORK/up and its output in WORK/up.out, sets `up_pid`, and waits (at most
# 120 s) until it prints "endpoints:", i.e. every service answers; if it
# exits or the time passes first, prints its output and the services' last
# log lines and returns 1. stop_services (for an EXIT trap) sends SIGTERM
# and waits, if it still runs. predict_until_version CTL WORK MODEL V OUT
# [PREDICT FLAGS...] runs `CTL predict --model=MODEL --log=never --json`
# with the flags into OUT until the pod answers with version V (a swap is
# asynchronous: the pod loads a version after the registry deploys it);
# after 60 s it prints what it got and the pod's last log lines and
# returns 1.

up_pid=""

start_services() {
  local root="$1" bin_dir="$2" work="$3"
  "$root/deploy/local/continuum-up" --bin-dir "$bin_dir" \
    --data-dir "$work/up" >"$work/up.out" 2>&1 &
  up_pid=$!
  local deadline=$((SECONDS + 120))
  until grep -q '^endpoints:' "$work/up.out" 2>/dev/null; do
    if ! kill -0 "$up_pid" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      echo "the services did not start; continuum-up said:"
      cat "$work/up.out"
      tail -n 20 "$work"/up/logs/*.log 2>/dev/null || true
      return 1
    fi
    sleep 0.2
  done
}

stop_services() {
  if [ -n "$up_pid" ]; then
    kill -TERM "$up_pid" 2>/dev/null || true
    wait "$up_pid" 2>/dev/null || true
    up_pid=""
  fi
}

predict_until_version() {
  local ctl="$1" work="$2" model="$3" version="$4" out="$5"
  shift 5
  local deadline=$((SECONDS + 60))
  while :; do
    if "$ctl" predict --model="$model" --log=never --json "$@" >"$out" \
      2>"$work/predict.err" &&
      /usr/bin/python3 -c 'import json,sys; sys.exit(0 if int(json.load(open(sys.argv[1]))["version"]["version"]) == int(sys.argv[2]) else 1)' "$out" "$version"; then
      return 0
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "the pod did not answer with version $version within 60 s:"
      cat "$out" "$work/predict.err" || true
      tail -n 20 "$work"/up/logs/inference*.log
      return 1
    fi
    sleep 0.2
  done
}
