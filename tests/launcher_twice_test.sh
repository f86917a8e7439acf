#!/usr/bin/env bash
# deploy/local/continuum-up started a second time on a data directory that a
# running one uses must refuse, naming the running PIDs, and touch nothing:
# the running services' logs are not truncated (no NUL padding), their port
# files stay, they keep serving. Then the same after the first launcher was
# killed with SIGKILL while its services run (they hold the lock). Finally a
# launcher on a free directory still starts.
# Usage: launcher_twice_test.sh BIN_DIR
set -euo pipefail
bin_dir="$1"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/launcher_twice.XXXXXX")"
# shellcheck source=util/continuum_up.sh
. "$root/tests/util/continuum_up.sh"
cleanup() {
  stop_services
  # Services left by the SIGKILLed launcher.
  if [ -s "$work/up/continuum-up.lock" ]; then
    for pid in $(awk '$2 == "pid" && $1 != "continuum-up" {print $3}' "$work/up/continuum-up.lock"); do
      kill -TERM "$pid" 2>/dev/null || true
    done
  fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  exit 1
}

start_services "$root" "$bin_dir" "$work"
ports_before=$(cat "$work"/up/run/*.port | sort)
log_sizes() { for f in "$work"/up/logs/*; do stat -c '%n %s' "$f"; done; }
sizes_before=$(log_sizes)

# refuse: a second launcher on the same directory must exit 2 naming PIDs,
# leave the port files and not shrink or pad any log.
refuse() {
  local rc=0
  "$root/deploy/local/continuum-up" --bin-dir "$bin_dir" --data-dir "$work/up" \
    >"$work/second.out" 2>&1 || rc=$?
  cat "$work/second.out"
  [ "$rc" -eq 2 ] || fail "the second continuum-up exited $rc, not 2"
  grep -q "is in use by a running continuum-up" "$work/second.out" ||
    fail "the refusal does not say why"
  for s in registry collector drift trainer inference; do
    grep -q "$s pid [0-9]" "$work/second.out" || fail "the refusal does not name the $s's PID"
  done
  [ "$(cat "$work"/up/run/*.port | sort)" = "$ports_before" ] ||
    fail "the port files changed"
  while read -r file size; do
    now=$(stat -c %s "$file")
    [ "$now" -ge "$size" ] || fail "$file shrank from $size to $now bytes"
    if tr -d '\000' <"$file" | cmp -s - "$file"; then :; else
      fail "$file holds NUL bytes"
    fi
  done <<<"$sizes_before"
  for s in registry collector drift trainer; do
    port=$(tr -d '[:space:]' <"$work/up/run/$s.port")
    "$bin_dir/continuumctl" health --target="127.0.0.1:$port" --timeout=10s >/dev/null ||
      fail "the running $s stopped answering"
  done
}
refuse
echo "second launcher refused; the running one is untouched"

# The launcher dies (SIGKILL, no cleanup) while its services run: they hold
# the lock, so a new launcher still refuses.
kill -KILL "$up_pid"
wait "$up_pid" 2>/dev/null || true
up_pid=""
refuse
echo "after the launcher was killed, its services still hold the directory"

# Another directory is free.
"$root/deploy/local/continuum-up" --bin-dir "$bin_dir" --data-dir "$work/other" \
  --check >"$work/other.out" 2>&1 || { cat "$work/other.out"; fail "continuum-up --check on a free directory"; }
echo PASS
