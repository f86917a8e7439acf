#!/usr/bin/env bash
# The conformance suite (tests/conformance/conformance.py) against the five
# real services started by deploy/local/continuum-up, through Debian's
# python3-grpcio and the stubs CMake generates from protos/.
# Usage: run.sh BIN_DIR PYTHON_DIR [--only=collector,registry]
set -euo pipefail
bin_dir="$1"
python_dir="$2"
shift 2
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/conformance.XXXXXX")"
# shellcheck source=../util/continuum_up.sh
. "$root/tests/util/continuum_up.sh"
cleanup() {
  stop_services
  rm -rf "$work"
}
trap cleanup EXIT

start_services "$root" "$bin_dir" "$work"
"$bin_dir/continuumctl" model init --family=mlp_classifier --inputs=4 \
  --classes=3 --output="$work/conformance.bundle" >/dev/null
# One input too many for the registry's model: its upload is refused.
"$bin_dir/continuumctl" model init --family=mlp_classifier --inputs=5 \
  --classes=3 --output="$work/wide.bundle" >/dev/null
status=0
PYTHONPATH="$python_dir:$here" timeout 600 /usr/bin/python3 \
  "$here/conformance.py" --endpoints="$work/up/endpoints.env" \
  --bundle="$work/conformance.bundle" --wide_bundle="$work/wide.bundle" \
  "$@" || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- the services' logs (last lines) ---"
  tail -n 15 "$work"/up/logs/*.log || true
fi
exit "$status"
