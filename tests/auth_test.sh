#!/usr/bin/env bash
# Authentication and per-method roles on a real registry process over TLS:
# an identities file with one token per role (SHA-256 only) and a
# certificate entry; tests/auth_peers.py checks it from python3-grpcio.
# Then continuumctl with a token file, CONTINUUM_TOKEN, and RS256 JWTs
# signed with the openssl CLI (valid, expired, another audience). Also: the
# token never appears in the registry's log.
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

# JWTs from an issuer whose RSA key the openssl CLI makes.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
  -out "$work/jwt.key" 2>/dev/null
openssl pkey -in "$work/jwt.key" -pubout -out "$work/jwt.pub"
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
jwt() {  # CLAIMS_JSON: an RS256 token signed with jwt.key
  local h p s
  h=$(printf '{"alg":"RS256","typ":"JWT"}' | b64url)
  p=$(printf '%s' "$1" | b64url)
  s=$(printf '%s.%s' "$h" "$p" |
    openssl dgst -sha256 -sign "$work/jwt.key" -binary | b64url)
  echo "$h.$p.$s"
}

start_registry "$bin_dir" "$work" \
  --tls_key="$work/certs/registry.key" --tls_cert="$work/certs/registry.pem" \
  --tls_ca="$work/certs/ca.pem" --auth_identities_file="$ids" \
  --config_text="server { auth { jwt { public_key_files: \"$work/jwt.pub\"
    issuer: \"https://idp.test\" audience: \"continuum\" } } }"
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
# A viewer JWT lists models and may not roll back; an expired one and one
# for another audience are refused.
now=$(date +%s)
claims() {  # SUB ROLE EXP AUD
  printf '{"iss":"https://idp.test","aud":"%s","sub":"%s","roles":["%s"],"exp":%s}' \
    "$4" "$1" "$2" "$3"
}
ctl_jwt() {  # TOKEN COMMAND...
  local token="$1"
  shift
  CONTINUUM_TOKEN="$token" "$bin_dir/continuumctl" "$@" \
    --target="127.0.0.1:$port" --tls_ca="$work/certs/ca.pem"
}
ctl_jwt "$(jwt "$(claims dana viewer $((now + 600)) continuum)")" models list \
  >"$work/ctl.out" 2>&1 || { cat "$work/ctl.out"; echo "FAIL: JWT models list"; exit 1; }
for case in "dana viewer $((now + 600)) continuum|dana (roles viewer) may not call /continuum.v1.RegistryService/Rollback" \
            "dana operator $((now - 600)) continuum|the JWT expired at" \
            "dana operator $((now + 600)) elsewhere|the JWT audience is not continuum"; do
  read -r sub role exp aud <<<"${case%%|*}"
  rc=0
  ctl_jwt "$(jwt "$(claims "$sub" "$role" "$exp" "$aud")")" rollback \
    --model=auth-test --reason=jwt >"$work/ctl.out" 2>&1 || rc=$?
  cat "$work/ctl.out"
  [ "$rc" -ne 0 ] && grep -qF "${case#*|}" "$work/ctl.out" ||
    { echo "FAIL: JWT case '$case'"; exit 1; }
done

if grep -q "secret-token" "$work/registry.log" "$work/registry.out"; then
  echo "FAIL: a token appears in the registry's log"
  exit 1
fi
echo PASS
