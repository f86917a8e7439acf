#!/usr/bin/env bash
# Type-checks the Grafana dashboards (deploy/grafana/*.json) against
# @grafana/schema with TypeScript, checks their structure, and that every
# query uses metrics the services export: tests/deploy/check-dashboards.mjs.
# Also renders deploy/grafana as the ConfigMaps the dashboard sidecar loads
# (when kubectl is installed).
# Usage: grafana_dashboards_test.sh
set -euo pipefail
# shellcheck source=tests/deploy/common.sh
source "$(dirname "$0")/common.sh"
need_node
node "$here/check-dashboards.mjs" "$root"
if command -v "${KUBECTL:-kubectl}" >/dev/null 2>&1; then
  KUBECTL="${KUBECTL:-kubectl}"
  tmp=$(mktemp)
  trap 'rm -f "$tmp"' EXIT
  render deploy/grafana "$tmp"
  n=$(grep -c '^kind: ConfigMap' "$tmp" || true)
  expected=$(find "$root/deploy/grafana" -maxdepth 1 -name '*.json' | wc -l)
  if [ "$n" -ne "$expected" ]; then
    echo "FAIL: deploy/grafana renders $n ConfigMaps for $expected dashboards"
    exit 1
  fi
  echo "deploy/grafana renders $n dashboard ConfigMaps"
fi
