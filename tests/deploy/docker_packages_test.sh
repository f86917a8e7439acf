#!/usr/bin/env bash
# Checks deploy/docker/Dockerfile without building it (no Docker daemon needed):
#   1. every runtime package (ARG RUNTIME_PACKAGES) exists in the Debian
#      archive this machine uses: `apt-cache policy` shows a Candidate;
#   2. those packages and their dependencies provide every shared library the
#      built binaries link (their DT_NEEDED entries, by owning package), when
#      BIN_DIR holds the binaries;
#   3. the Dockerfile's structure: the stages it copies from and builds on
#      exist, one target per service with the service as ENTRYPOINT, a numeric
#      non-root USER, the build stage building every shipped target, and the
#      ports of deploy/k8s exposed.
# Skips (exit 77) without apt-cache or the archive's package lists, or on a
# release other than the image's (Debian 12, bookworm).
# Usage: docker_packages_test.sh [BIN_DIR]   (default ./build/bin)
set -euo pipefail
# shellcheck source=tests/deploy/common.sh
source "$(dirname "$0")/common.sh"
bin_dir="${1:-$root/build/bin}"
dockerfile="${DOCKERFILE:-$root/deploy/docker/Dockerfile}"

failures=0
not_checked=""
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# --- 3. structure (no tools needed) ---------------------------------------
# The Dockerfile with continuation lines joined and comment lines dropped.
joined=$(sed -e '/^[[:space:]]*#/d' "$dockerfile" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta')
declare -A stages=()
while read -r _ image as name; do
  [ "${as,,}" = "as" ] || continue
  # shellcheck disable=SC2016 # matches the Dockerfile's literal text
  case "$image" in
    '${DEBIAN_IMAGE}'*) ;;
    *) [ -n "${stages[$image]:-}" ] || fail "stage $name is built FROM $image, which is not an earlier stage or the Debian image" ;;
  esac
  stages[$name]=1
done < <(echo "$joined" | grep -E '^FROM ')
for ref in $(echo "$joined" | grep -oE 'COPY --from=[^ ]+' | cut -d= -f2); do
  [ -n "${stages[$ref]:-}" ] || fail "COPY --from=$ref: no such stage"
done
grep -qE '^ARG DEBIAN_IMAGE=debian:12$' <<<"$joined" || fail "the base image is not debian:12"
for s in collector trainer registry inference drift; do
  awk -v s="$s" '
    /^FROM / { in_stage = ($NF == s) }
    in_stage && $0 ~ "^ENTRYPOINT \\[\"/usr/local/bin/continuum-" s "\"\\]" { found = 1 }
    END { exit !found }' <<<"$joined" ||
    fail "no stage '$s' with ENTRYPOINT [\"/usr/local/bin/continuum-$s\"]"
done
user=$(grep -E '^USER ' <<<"$joined" | tail -n 1 | awk '{print $2}')
[[ "$user" =~ ^[1-9][0-9]*(:[0-9]+)?$ ]] || fail "USER '$user' is not a numeric non-root uid (runAsNonRoot needs one)"
uid=$(grep -oE 'runAsUser: [0-9]+' "$root/deploy/k8s/base"/*.yaml | awk '{print $2}' | sort -u)
[ "$uid" = "${user%%:*}" ] || fail "the image's uid (${user%%:*}) differs from the pods' runAsUser ($uid)"
build_line=$(grep -E 'cmake --build' <<<"$joined" || true)
for t in continuum-collector continuum-trainer continuum-registry continuum-inference continuum-drift continuumctl; do
  grep -q -- " $t" <<<"$build_line" || fail "the build stage does not build $t"
  grep -rqE "NAME $t\$" "$root/services" "$root/tools" || fail "$t is not a CMake target (services/, tools/)"
done
expose=$(grep -E '^EXPOSE ' <<<"$joined" | head -n 1)
for p in 50051 9464; do
  grep -qw "$p" <<<"$expose" || fail "the image does not EXPOSE $p (the ports of deploy/k8s)"
done
echo "Dockerfile structure: stages ${!stages[*]}"

packages=$(grep -oE 'ARG RUNTIME_PACKAGES="[^"]*"' <<<"$joined" | sed -e 's/^ARG RUNTIME_PACKAGES="//' -e 's/"$//')
[ -n "$packages" ] || fail "no ARG RUNTIME_PACKAGES=\"...\" in the Dockerfile"

# --- 1. packages in the archive --------------------------------------------
if ! command -v apt-cache >/dev/null 2>&1; then
  [ $failures -eq 0 ] || exit 1
  skip "apt-cache is not installed (not Debian?): package checks not run"
fi
codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
if [ "$codename" != "bookworm" ]; then
  [ $failures -eq 0 ] || exit 1
  skip "this machine runs '${codename:-unknown}', not Debian 12 (bookworm): its archive cannot vouch for the image's packages"
fi
if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
  [ $failures -eq 0 ] || exit 1
  skip "no apt package lists (run apt-get update): package checks not run"
fi
for p in $packages; do
  candidate=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')
  if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
    fail "runtime package $p has no candidate in the archive (apt-cache policy $p)"
  else
    echo "  $p $candidate"
  fi
done

# --- 2. the packages provide every library the binaries link ---------------
binaries=()
for b in continuum-collector continuum-trainer continuum-registry continuum-inference continuum-drift continuumctl; do
  [ -x "$bin_dir/$b" ] && binaries+=("$bin_dir/$b")
done
if [ ${#binaries[@]} -eq 0 ]; then
  not_checked="no binaries in $bin_dir"
elif ! command -v readelf >/dev/null 2>&1 || ! command -v ldd >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
  not_checked="readelf, ldd or dpkg missing"
else
  # Every package the runtime list pulls in (what apt-get install would).
  # shellcheck disable=SC2086
  closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances $packages 2>/dev/null | grep -v '^ ' | sort -u)
  declare -A checked=()
  for b in "${binaries[@]}"; do
    if ! resolved=$(ldd "$b" 2>&1); then
      fail "ldd $b failed: $resolved"
      continue
    fi
    for lib in $(readelf -d "$b" | awk '/\(NEEDED\)/ {gsub(/[][]/, "", $5); print $5}'); do
      [ -z "${checked[$lib]:-}" ] || continue
      checked[$lib]=1
      path=$(awk -v l="$lib" '$1 == l && $2 == "=>" {print $3}' <<<"$resolved")
      if [ -z "$path" ] || [ "$path" = "not" ]; then
        fail "$(basename "$b") needs $lib, which does not resolve on this machine"
        continue
      fi
      owner=$(dpkg -S "$path" 2>/dev/null || dpkg -S "$(readlink -f "$path")" 2>/dev/null || true)
      owner=${owner%%:*}
      if [ -z "$owner" ]; then
        fail "$lib ($path) belongs to no Debian package"
      elif ! grep -qx -- "$owner" <<<"$closure"; then
        fail "$lib comes from $owner, which the runtime packages do not install (add it to RUNTIME_PACKAGES)"
      fi
    done
  done
  echo "library coverage: ${#checked[@]} libraries of ${#binaries[@]} binaries come with the runtime packages"
fi

if [ $failures -gt 0 ]; then
  echo "$failures problem(s)"
  exit 1
fi
if [ -n "$not_checked" ]; then
  skip "the runtime packages exist; library coverage not checked: $not_checked"
fi
echo "deploy/docker/Dockerfile: runtime packages exist and cover the binaries"
