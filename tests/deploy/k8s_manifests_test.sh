#!/usr/bin/env bash
# Renders deploy/k8s (the base, the production, secure and federated
# coordinator and site overlays) with
# `kubectl kustomize` and validates every object offline: against the
# Kubernetes schemas (kubernetes-models, @kubernetes-models/prometheus-operator
# and a strict TypeScript check for unknown fields) and against Continuum's
# rules (resources, probes, security contexts, ports, references, config
# wiring): tests/deploy/check-k8s.mjs.
# Usage: k8s_manifests_test.sh
set -euo pipefail
# shellcheck source=tests/deploy/common.sh
source "$(dirname "$0")/common.sh"
need_kubectl
need_node
echo "kubectl: $("$KUBECTL" version --client 2>/dev/null | head -n 1)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
render deploy/k8s/base "$tmp/base.yaml"
render deploy/k8s/overlays/production "$tmp/production.yaml"
render deploy/k8s/overlays/secure "$tmp/secure.yaml"
render deploy/k8s/overlays/federated-coordinator "$tmp/federated-coordinator.yaml"
render deploy/k8s/overlays/federated-site "$tmp/federated-site.yaml"
node "$here/check-k8s.mjs" base="$tmp/base.yaml" \
  production="$tmp/production.yaml:pinned" secure="$tmp/secure.yaml:pinned" \
  federated-coordinator="$tmp/federated-coordinator.yaml" \
  federated-site="$tmp/federated-site.yaml:site"
