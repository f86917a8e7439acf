#!/usr/bin/env bash
# Mutual TLS against independent peers: a registry started with certificates
# minted by the openssl CLI (deploy/local/mint-certs), re-reading them every
# second; tests/tls_peers.py connects with Debian's python3-grpcio and the
# openssl CLI, rotates the key pair and checks the new certificate is served
# while an open stream stays open. Also: a TLS file that does not exist
# refuses the start, naming it.
# Usage: tls_peers_test.sh BIN_DIR PYTHON_DIR
set -euo pipefail
bin_dir="$1"
python_dir="$2"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/tls_peers_test.XXXXXX")"
# shellcheck source=util/registry_process.sh
. "$root/tests/util/registry_process.sh"
cleanup() {
  stop_registry
  rm -rf "$work"
}
trap cleanup EXIT
"$root/deploy/local/mint-certs" "$work/certs" registry client
"$root/deploy/local/mint-certs" "$work/other" client

# A missing file: the registry refuses to start and names it.
rc=0
"$bin_dir/continuum-registry" --data_dir="$work/bad" \
  --tls_key="$work/certs/registry.key" --tls_cert="$work/certs/missing.pem" \
  >"$work/bad.out" 2>&1 || rc=$?
cat "$work/bad.out"
[ "$rc" -ne 0 ] || { echo "FAIL: started with a missing certificate"; exit 1; }
grep -q "server.tls.certificate_file: cannot read $work/certs/missing.pem" \
  "$work/bad.out" || { echo "FAIL: the error does not name the file"; exit 1; }

start_registry "$bin_dir" "$work" \
  --tls_key="$work/certs/registry.key" --tls_cert="$work/certs/registry.pem" \
  --tls_ca="$work/certs/ca.pem" --tls_require_client_certificate=true \
  --config_text='server { tls { reload_interval { seconds: 1 } } }'
grep -q "TLS on: certificate $work/certs/registry.pem, client certificates required" \
  "$work/registry.log" || { echo "FAIL: no TLS start-up line"; exit 1; }
/usr/bin/python3 "$root/tests/tls_peers.py" "$python_dir" "$root" \
  "$registry_port" "$work/certs" "$work/other"
echo PASS
