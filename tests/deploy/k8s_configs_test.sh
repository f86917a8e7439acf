#!/usr/bin/env bash
# The services' configurations as Kubernetes mounts them: renders deploy/k8s
# (base, production and secure), takes each service's .pbtxt out of its ConfigMap
# (tests/deploy/check-k8s.mjs) and checks that
#   1. it parses as the service's config message (protoc --encode against
#      protos/continuum/config/v1, which rejects unknown fields and bad
#      values), and
#   2. the service binary accepts it: started with --config=FILE (and its
#      listen, metrics and data flags pointed at loopback and a temporary
#      directory, since flags override the file) it must start serving, then
#      exit 0 on SIGTERM. A rejected config exits 2 and names the field.
# The secure overlay's configs name files the pods mount from Secrets and
# ConfigMaps (/etc/continuum/tls, auth, keys): here certificates minted by
# the openssl CLI (deploy/local/mint-certs), the overlay's identities file
# and a fresh key stand in for them, so each service starts with mutual
# TLS, roles and encryption at rest as configured, and its health-only port.
# The binaries have no --check_config flag; this starts them instead. Step 2
# is skipped for a binary that is missing or older than its config's .proto
# (rebuild first).
# Usage: k8s_configs_test.sh [BIN_DIR]   (default ./build/bin)
set -euo pipefail
# shellcheck source=tests/deploy/common.sh
source "$(dirname "$0")/common.sh"
bin_dir="${1:-$root/build/bin}"
need_kubectl
need_node
command -v protoc >/dev/null 2>&1 || skip "protoc is not installed; run scripts/install-deps"

tmp=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
render deploy/k8s/base "$tmp/base.yaml"
render deploy/k8s/overlays/production "$tmp/production.yaml"
render deploy/k8s/overlays/secure "$tmp/secure.yaml"
render deploy/k8s/overlays/federated-coordinator "$tmp/federated-coordinator.yaml"
render deploy/k8s/overlays/federated-site "$tmp/federated-site.yaml"
node "$here/check-k8s.mjs" --configs-out "$tmp/configs" \
  base="$tmp/base.yaml" production="$tmp/production.yaml" \
  secure="$tmp/secure.yaml" federated-coordinator="$tmp/federated-coordinator.yaml" \
  federated-site="$tmp/federated-site.yaml:site" >"$tmp/check.log" ||
  { cat "$tmp/check.log"; echo "FAIL: the manifests do not validate (k8s_manifests_test)"; exit 1; }

failures=0
skipped=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
# The files the secure overlay mounts, under $tmp/etc/<service>/ as
# /etc/continuum/ would hold them in that service's pod.
mounted_files() {
  local service=$1 etc="$tmp/etc/$1"
  [ -d "$etc" ] && return 0
  mkdir -p "$etc/tls" "$etc/auth" "$etc/keys"
  "$root/deploy/local/mint-certs" "$tmp/certs" "$service" >/dev/null 2>&1
  cp "$tmp/certs/$service.key" "$etc/tls/tls.key"
  cp "$tmp/certs/$service.pem" "$etc/tls/tls.crt"
  cp "$tmp/certs/ca.pem" "$etc/tls/ca.crt"
  cp "$root/deploy/k8s/overlays/secure/identities" "$etc/auth/identities"
  (umask 077; printf 'k1 %s\n' "$(openssl rand -hex 32)" >"$etc/keys/at-rest.keys")
}
# Starts BIN with CONFIG; 0 if it served and drained cleanly.
start_check() {
  local bin=$1 config=$2 name=$3 service=$4
  local dir="$tmp/run/$name"
  mkdir -p "$dir"
  if grep -q '"/etc/continuum/' "$config"; then
    mounted_files "$service"
    sed "s|\"/etc/continuum/|\"$tmp/etc/$service/|g" "$config" >"$dir/config.pbtxt"
    config="$dir/config.pbtxt"
  fi
  "$bin" --config="$config" --listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 \
    --health_listen=127.0.0.1:0 \
    --data_dir="$dir/data" --port_file="$dir/port" >"$dir/out" 2>"$dir/err" &
  local pid=$!
  pids+=("$pid")
  local deadline=$((SECONDS + 60))
  while [ ! -s "$dir/port" ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      local rc=0
      wait "$pid" || rc=$?
      echo "    exited with $rc before serving:"
      sed 's/^/      /' "$dir/err" | tail -n 5
      return 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "    did not start serving within 60 s"
      return 1
    fi
    sleep 0.1
  done
  kill -TERM "$pid"
  local rc=0
  wait "$pid" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "    exited with $rc after SIGTERM:"
    sed 's/^/      /' "$dir/err" | tail -n 5
    return 1
  fi
}

for render_dir in "$tmp/configs"/*; do
  render_name=$(basename "$render_dir")
  for config in "$render_dir"/*.pbtxt; do
    service=$(basename "$config" .pbtxt)
    message="continuum.config.v1.${service^}Config"
    proto="continuum/config/v1/${service}_config.proto"
    echo "$render_name/$service.pbtxt as $message"
    if ! protoc -I "$root/protos" --encode="$message" "$root/protos/$proto" \
        <"$config" >/dev/null 2>"$tmp/protoc.err"; then
      fail "$render_name/$service.pbtxt does not parse as $message:"
      sed 's/^/      /' "$tmp/protoc.err"
      continue
    fi
    echo "  parses (protoc)"
    bin="$bin_dir/continuum-$service"
    if [ ! -x "$bin" ]; then
      echo "  skipped starting continuum-$service: $bin not built"
      skipped=$((skipped + 1))
      continue
    fi
    if [ "$root/protos/$proto" -nt "$bin" ] ||
       [ "$root/protos/continuum/config/v1/server_config.proto" -nt "$bin" ]; then
      echo "  skipped starting continuum-$service: $bin is older than $proto (rebuild it)"
      skipped=$((skipped + 1))
      continue
    fi
    if start_check "$bin" "$config" "$render_name-$service" "$service"; then
      echo "  continuum-$service accepts it (started, served, drained)"
    else
      fail "continuum-$service rejects $render_name/$service.pbtxt"
    fi
  done
done
if [ $failures -gt 0 ]; then
  echo "$failures problem(s)"
  exit 1
fi
if [ "$skipped" -gt 0 ]; then
  skip "$skipped config(s) parsed but not started (binaries missing or stale): build them and run again"
fi
echo "every config is valid"
