# Sourced by the shell tests that run one real registry process
# (tls_peers_test.sh, auth_test.sh).
#
# start_registry BIN_DIR WORK [FLAGS...] starts continuum-registry with its
# state in WORK/registry, its port in WORK/port and its output in
# WORK/registry.out and WORK/registry.log, plus FLAGS; sets registry_pid
# and registry_port once the port file is written (at most 30 s); if the
# process exits or the time passes first, prints its log and returns 1.
# stop_registry (for an EXIT trap) sends SIGTERM and waits, if it runs.

registry_pid=""
registry_port=""

start_registry() {
  local bin_dir="$1" work="$2"
  shift 2
  rm -f "$work/port"
  "$bin_dir/continuum-registry" --data_dir="$work/registry" \
    --port_file="$work/port" --metrics_listen= "$@" \
    >"$work/registry.out" 2>"$work/registry.log" &
  registry_pid=$!
  local deadline=$((SECONDS + 30))
  until [ -s "$work/port" ]; do
    if ! kill -0 "$registry_pid" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      echo "the registry did not start; its log:"
      cat "$work/registry.log"
      return 1
    fi
    sleep 0.1
  done
  registry_port="$(tr -d '[:space:]' <"$work/port")"
}

stop_registry() {
  if [ -n "$registry_pid" ]; then
    kill -TERM "$registry_pid" 2>/dev/null || true
    wait "$registry_pid" 2>/dev/null || true
    registry_pid=""
  fi
}
