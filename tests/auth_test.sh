#!/usr/bin/env bash
# Authentication and per-method roles on a real registry process over TLS:
# an identities file with one token per role (SHA-256 only) and a
# certificate entry; tests/auth_peers.py checks it from python3-grpcio.
# Also: the token never appears in the registry's log.
# Usage: auth_test.sh BIN_DIR PYTHON_DIR
set -euo pipefail
bin_dir="$1"
python_dir="$2"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/auth_test.XXXXXX")"
# shellcheck source=util/registry_process.sh
. "$root/tests/util/registry_process.sh"
cleanup() {
  stop_registry
  rm -rf "$work"
}
trap cleanup EXIT
"$root/deploy/local/mint-certs" "$work/certs" registry trainer
ids="$work/identities"
: >"$ids"
for role in viewer producer trainer operator pod site admin; do
  hash=$(printf '%s' "$role-secret-token" | sha256sum | cut -d' ' -f1)
  echo "token sha256:$hash $role-user $role" >>"$ids"
done
echo "certificate trainer trainer" >>"$ids"

start_registry "$bin_dir" "$work" \
  --tls_key="$work/certs/registry.key" --tls_cert="$work/certs/registry.pem" \
  --tls_ca="$work/certs/ca.pem" --auth_identities_file="$ids"
/usr/bin/python3 "$root/tests/auth_peers.py" "$python_dir" "$registry_port" \
  "$work/certs"
# continuumctl with a token file, and with CONTINUUM_TOKEN.
port="$registry_port"
printf 'viewer-secret-token\n' >"$work/viewer.token"
"$bin_dir/continuumctl" models list --target="127.0.0.1:$port" \
  --tls_ca="$work/certs/ca.pem" --token_file="$work/viewer.token" >"$work/ctl.out"
grep -q "auth-test" "$work/ctl.out" || { echo "FAIL: continuumctl models list"; cat "$work/ctl.out"; exit 1; }
rc=0
CONTINUUM_TOKEN=viewer-secret-token "$bin_dir/continuumctl" rollback \
  --target="127.0.0.1:$port" --tls_ca="$work/certs/ca.pem" --model=auth-test \
  --reason=test >"$work/ctl.out" 2>&1 || rc=$?
cat "$work/ctl.out"
[ "$rc" -ne 0 ] && grep -q "viewer-user (roles viewer) may not call /continuum.v1.RegistryService/Rollback" "$work/ctl.out" ||
  { echo "FAIL: a viewer rolled back"; exit 1; }
if grep -q "secret-token" "$work/registry.log" "$work/registry.out"; then
  echo "FAIL: a token appears in the registry's log"
  exit 1
fi
echo PASS
