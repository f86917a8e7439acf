# shellcheck shell=bash
# Sourced by the deploy tests (tests/deploy/*_test.sh): paths and the skip
# protocol. A test whose tools are missing exits 77, which ctest reports as
# skipped (SKIP_RETURN_CODE in tests/CMakeLists.txt), after saying why.
# Nothing is downloaded here: scripts/install-deps installs kubectl, Node.js
# and this directory's node_modules (npm ci) beforehand.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
SKIP_CODE=77

skip() {
  echo "SKIP: $*"
  exit $SKIP_CODE
}

# node >= 18 and the npm packages of package-lock.json.
need_node() {
  command -v node >/dev/null 2>&1 ||
    skip "node is not installed; run scripts/install-deps (Debian package nodejs)"
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 18 ] || skip "node $(node --version) is older than 18"
  local p
  for p in kubernetes-models @kubernetes-models/prometheus-operator @grafana/schema typescript yaml; do
    [ -f "$here/node_modules/$p/package.json" ] ||
      skip "tests/deploy/node_modules/$p is missing; run scripts/install-deps (npm ci in tests/deploy)"
  done
}

# kubectl with its built-in kustomize (any version from 1.20, Debian 12's).
# KUBECTL=/path/to/kubectl picks another one.
need_kubectl() {
  KUBECTL="${KUBECTL:-kubectl}"
  command -v "$KUBECTL" >/dev/null 2>&1 ||
    skip "kubectl is not installed; run scripts/install-deps (Debian package kubernetes-client)"
  "$KUBECTL" kustomize --help >/dev/null 2>&1 ||
    skip "$KUBECTL has no built-in kustomize"
}

# Renders a kustomization (deploy/k8s/...) into FILE; kustomize's deprecation
# warnings (bases, patchesStrategicMerge: kept for kubectl 1.20) are dropped.
render() {
  local dir=$1 out=$2 err
  err=$(mktemp)
  if ! "$KUBECTL" kustomize "$root/$dir" >"$out" 2>"$err"; then
    echo "FAIL: $KUBECTL kustomize $dir:"
    cat "$err"
    rm -f "$err"
    return 1
  fi
  grep -v "^# Warning: '.*' is deprecated" "$err" >&2 || true
  rm -f "$err"
}
