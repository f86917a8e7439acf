#!/usr/bin/env bash
# continuumctl without --target finds the service it talks to as
# tools/continuumctl/endpoints.h says, against the five real services of
# deploy/local/continuum-up: from ./data/endpoints.env, from the file
# CONTINUUM_ENDPOINTS names, and from CONTINUUM_<SERVICE>, which wins; a
# --target given wins over all of them; without any, the command says
# --target is required. Also: --timeout=3 (no unit) is refused with a hint;
# health --service answers for each service's full name, exit 3 for a name
# the server does not serve.
# Usage: ctl_default_target_test.sh BIN_DIR
set -euo pipefail
bin_dir="$1"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/ctl_default_target.XXXXXX")"
# shellcheck source=util/continuum_up.sh
. "$root/tests/util/continuum_up.sh"
trap 'stop_services; rm -rf "$work"' EXIT
fail() {
  echo "FAIL: $*"
  exit 1
}
ctl="$bin_dir/continuumctl"
start_services "$root" "$bin_dir" "$work"
# A data set and a model to find.
mkdir -p "$work/cwd/data"
cp "$work/up/endpoints.env" "$work/cwd/data/endpoints.env"
(cd "$work/cwd" &&
  env -u CONTINUUM_ENDPOINTS "$ctl" datasets create --dataset=found \
    --features=2 --label_kind=class --classes=2 >/dev/null &&
  env -u CONTINUUM_ENDPOINTS "$ctl" models register --model=found >/dev/null) ||
  fail "commands without --target in a directory with data/endpoints.env"
(cd "$work/cwd" && "$ctl" datasets list) | grep -q found ||
  fail "datasets list from ./data/endpoints.env"
echo "./data/endpoints.env: datasets and models reached"
(cd / && CONTINUUM_ENDPOINTS="$work/up/endpoints.env" "$ctl" models list) |
  grep -q found || fail "models list from CONTINUUM_ENDPOINTS"
echo "CONTINUUM_ENDPOINTS: models reached"
# The environment wins over the file, and --target over both.
rc=0
(cd "$work/cwd" && CONTINUUM_REGISTRY=127.0.0.1:1 "$ctl" models list --timeout=2s) \
  >"$work/out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] && grep -q "127.0.0.1:1" "$work/out" ||
  { cat "$work/out"; fail "CONTINUUM_REGISTRY did not win over the file"; }
registry=$(sed -n 's/^CONTINUUM_REGISTRY=//p' "$work/up/endpoints.env")
(cd "$work/cwd" && CONTINUUM_REGISTRY=127.0.0.1:1 "$ctl" models list \
  --target="$registry") | grep -q found || fail "--target did not win"
echo "CONTINUUM_REGISTRY wins over the file, --target over both"
rc=0
(cd / && env -u CONTINUUM_ENDPOINTS -u CONTINUUM_REGISTRY "$ctl" models list) \
  >"$work/out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] && grep -q -- "--target is required" "$work/out" ||
  { cat "$work/out"; fail "no target anywhere: not refused with a message"; }
rc=0
"$ctl" models list --timeout=3 >"$work/out" 2>&1 || rc=$?
[ "$rc" -eq 2 ] && grep -q -- "--timeout=3 needs a unit: e.g. --timeout=3s" "$work/out" ||
  { cat "$work/out"; fail "--timeout=3 without a hint"; }
# health --service: each service answers by its full name (exit 0); a name
# the server does not know is exit 3 with a hint, not 2 ("unreachable").
for pair in collector:CollectorService registry:RegistryService \
    trainer:TrainerService drift:DriftService; do
  svc="${pair%%:*}"
  target=$(sed -n "s/^CONTINUUM_$(echo "$svc" | tr a-z A-Z)=//p" "$work/up/endpoints.env")
  "$ctl" health --target="$target" --service="continuum.v1.${pair#*:}" >"$work/out" 2>&1 ||
    { cat "$work/out"; fail "health --service=continuum.v1.${pair#*:}"; }
  grep -q " SERVING$" "$work/out" || { cat "$work/out"; fail "$svc not SERVING by name"; }
done
# The pod has no model loaded yet: by name too, it is not ready (exit 1).
rc=0
"$ctl" health --target="$(sed -n 's/^CONTINUUM_INFERENCE=//p' "$work/up/endpoints.env")" \
  --service=continuum.v1.InferenceService >"$work/out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] && grep -q " NOT_SERVING$" "$work/out" ||
  { cat "$work/out"; fail "the pod without a model: exit $rc, not 1 NOT_SERVING"; }
rc=0
"$ctl" health --target="$registry" --service=continuum.v1.NoSuchService >"$work/out" 2>&1 || rc=$?
[ "$rc" -eq 3 ] && grep -q "does not serve 'continuum.v1.NoSuchService'" "$work/out" ||
  { cat "$work/out"; fail "health of an unknown service: exit $rc, not 3"; }
echo "health by service name: four services SERVING, the pod without a model NOT_SERVING, an unknown name exit 3"
echo PASS
