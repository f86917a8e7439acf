#!/usr/bin/env bash
# The alerting rules (deploy/prometheus) use only metrics the services
# export: tests/deploy/check-rules.mjs.
# Usage: prometheus_rules_metrics_test.sh
set -euo pipefail
# shellcheck source=tests/deploy/common.sh
source "$(dirname "$0")/common.sh"
need_node
node "$here/check-rules.mjs" "$root"
