#!/usr/bin/env bash
# Encryption at rest with real processes: a collector and a registry started
# with a key file (keys made by `openssl rand`).
#  1. After ingesting records with known ids and feature values (and
#     uploading an artifact with a known marker), none of those bytes
#     appears in any file under the data directories; a plaintext collector
#     given the same records is the control (the bytes are found there).
#  2. A missing key, a wrong key under the right id, or no keys refuse the
#     start, naming the key id.
#  3. Rotation: k2 added and made active, more records, `continuumctl
#     reencrypt` with the services stopped, k1 dropped: every record is
#     still read back (export), the artifact still downloads intact.
#  4. The key bytes appear in no log or output of any of these runs.
# Usage: encryption_at_rest_test.sh BIN_DIR
set -euo pipefail
bin_dir="$1"
work="$(mktemp -d "${TMPDIR:-/tmp}/encryption_test.XXXXXX")"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for log in "$work"/*.log; do
    [ -s "$log" ] || continue
    echo "--- last lines of $(basename "$log"):"
    tail -n 15 "$log"
  done
  exit 1
}

# start NAME DATA_DIR [FLAGS...]: starts continuum-NAME; sets `port` once it
# listens (at most 30 s), or returns 1 with its log.
start() {
  local name="$1" dir="$2"
  shift 2
  rm -f "$work/$name.port"
  "$bin_dir/continuum-$name" --data_dir="$dir" --port_file="$work/$name.port" \
    --metrics_listen= "$@" >>"$work/$name.out" 2>>"$work/$name.log" &
  pids+=($!)
  local pid=$! deadline=$((SECONDS + 30))
  until [ -s "$work/$name.port" ]; do
    if ! kill -0 "$pid" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      echo "continuum-$name did not start; its log:"
      tail -n 20 "$work/$name.log"
      return 1
    fi
    sleep 0.1
  done
  port="$(tr -d '[:space:]' <"$work/$name.port")"
}
stop_all() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
# refused NAME DATA_DIR EXPECTED [FLAGS...]: the start must fail, saying EXPECTED.
refused() {
  local name="$1" dir="$2" expected="$3" rc=0
  shift 3
  "$bin_dir/continuum-$name" --data_dir="$dir" --port_file="$work/refused.port" \
    --metrics_listen= "$@" >"$work/refused.out" 2>&1 || rc=$?
  cat "$work/refused.out" >>"$work/$name.log"
  [ "$rc" -ne 0 ] || fail "continuum-$name started with $*"
  grep -q -- "$expected" "$work/refused.out" ||
    { cat "$work/refused.out"; fail "continuum-$name's refusal does not say '$expected'"; }
}
ctl() { "$bin_dir/continuumctl" "$@"; }

k1="$(openssl rand -hex 32)"
k2="$(openssl rand -hex 32)"
k1_wrong="$(openssl rand -hex 32)"
printf '# test keys\nk1 %s\n' "$k1" >"$work/keys1"
printf 'k1 %s\n' "$k1_wrong" >"$work/keys_wrong"
printf 'k1 %s\nk2 %s\n' "$k1" "$k2" >"$work/keys12"
printf 'k2 %s\n' "$k2" >"$work/keys2"
chmod 600 "$work"/keys*
enc1=(--encryption_key_file="$work/keys1" --encryption_active_key=k1)

# Records with ids and float32 feature values that appear nowhere else.
/usr/bin/python3 - "$work" <<'EOF'
import sys
work = sys.argv[1]
for name, first in (("batch1.csv", 0), ("batch2.csv", 500)):
    with open(f"{work}/{name}", "w") as f:
        f.write("id,label,f0,f1,f2\n")
        for i in range(first, first + 500):
            f.write(f"patient-{i:05d}-zq,{i % 2},{7000.125 + i},{-3100.375 - i},{123456.5 + 2 * i}\n")
EOF
# Prints how many of batch1's ids and feature values occur in the files
# under DIR, as "IDS VALUES".
plaintext_hits() {
  /usr/bin/python3 - "$1" <<'EOF'
import os, struct, sys
data = b""
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        with open(os.path.join(root, f), "rb") as fh:
            data += fh.read()
ids = sum(f"patient-{i:05d}-zq".encode() in data for i in range(500))
values = sum(struct.pack("<f", 7000.125 + i) in data or
             struct.pack("<f", 123456.5 + 2 * i) in data for i in range(500))
print(ids, values)
EOF
}

# 1. Control: a plaintext collector stores the bytes as given.
start collector "$work/plain"
ctl datasets create --target="127.0.0.1:$port" --dataset=records --features=3 \
  --label_kind=class --classes=2 >/dev/null
ctl ingest --target="127.0.0.1:$port" --dataset=records --csv="$work/batch1.csv" >/dev/null
stop_all
read -r ids values <<<"$(plaintext_hits "$work/plain")"
echo "plaintext collector: $ids of 500 ids and $values of 500 feature rows found on disk"
[ "$ids" -eq 500 ] && [ "$values" -eq 500 ] || fail "the control did not find the plaintext"

# Encrypted collector and registry.
start collector "$work/collector" "${enc1[@]}"
collector="127.0.0.1:$port"
grep -q "data at rest encrypted with AES-256-GCM, active key k1" "$work/collector.log" ||
  fail "the collector does not log that encryption is on"
ctl datasets create --target="$collector" --dataset=records --features=3 \
  --label_kind=class --classes=2 >/dev/null
ctl ingest --target="$collector" --dataset=records --csv="$work/batch1.csv" >/dev/null
ctl export --target="$collector" --dataset=records --format=csv \
  --output="$work/export1.csv"
[ "$(grep -c '^patient-' "$work/export1.csv")" -eq 500 ] || fail "export after encrypted ingest"
start registry "$work/registry" "${enc1[@]}"
registry="127.0.0.1:$port"
ctl models register --target="$registry" --model=enc --family=mlp_classifier >/dev/null
# A real bundle (the registry accepts only those) carrying the marker in
# an unknown field, 400 KB of it.
ctl model init --family=mlp_classifier --inputs=3 --classes=2 \
  --output="$work/base.bundle" >/dev/null
/usr/bin/python3 "$(dirname "$0")/util/bundle_nonce.py" "$work/base.bundle" \
  "$work/artifact.bin" "ARTIFACT-MARKER-7f3a " 20000
ctl upload --target="$registry" --model=enc --file="$work/artifact.bin" >/dev/null
ctl download --target="$registry" --version=models/enc/versions/1 \
  --output="$work/download1.bin" >/dev/null
cmp -s "$work/artifact.bin" "$work/download1.bin" || fail "downloaded artifact differs"
stop_all

read -r ids values <<<"$(plaintext_hits "$work/collector")"
echo "encrypted collector: $ids ids and $values feature rows found on disk"
[ "$ids" -eq 0 ] && [ "$values" -eq 0 ] || fail "plaintext found under the encrypted collector's data directory"
if grep -rqa "ARTIFACT-MARKER" "$work/registry"; then
  fail "the artifact's plaintext is under the registry's data directory"
fi
echo "registry: no artifact plaintext on disk"

# 2. Missing, wrong or absent keys refuse the start, naming the key.
refused collector "$work/collector" "key k1" \
  --encryption_key_file="$work/keys2" --encryption_active_key=k2
refused collector "$work/collector" "key k1" \
  --encryption_key_file="$work/keys_wrong" --encryption_active_key=k1
refused collector "$work/collector" "key k1"
refused registry "$work/registry" "key k1" \
  --encryption_key_file="$work/keys2" --encryption_active_key=k2
refused registry "$work/registry" "key k1" \
  --encryption_key_file="$work/keys_wrong" --encryption_active_key=k1
refused collector "$work/collector" "encryption.active_key_id k9 is not in key file" \
  --encryption_key_file="$work/keys1" --encryption_active_key=k9
echo "missing, wrong and absent keys refused, naming key k1"

# 3. Rotation: k2 active beside k1, more records, re-encryption, k1 dropped.
start collector "$work/collector" --encryption_key_file="$work/keys12" \
  --encryption_active_key=k2
ctl ingest --target="127.0.0.1:$port" --dataset=records --csv="$work/batch2.csv" >/dev/null
stop_all
ctl reencrypt --data_dir="$work" --key_file="$work/keys12" --active_key=k2 \
  | tee "$work/reencrypt.out"
grep -q "^segment logs [0-9]*: 500 records moved to key k2" "$work/reencrypt.out" ||
  fail "reencrypt did not move batch 1's 500 records to k2"
grep -q "blobs, 0 encrypted, 1 moved to key k2" "$work/reencrypt.out" ||
  fail "reencrypt did not move the artifact"
# The plaintext control directory holds segment logs too: its records stay
# plaintext and are counted as such.
grep -q "; 500 records written before encryption left in plaintext" "$work/reencrypt.out" ||
  fail "reencrypt did not count the control's plaintext records"
start collector "$work/collector" --encryption_key_file="$work/keys2" \
  --encryption_active_key=k2
ctl export --target="127.0.0.1:$port" --dataset=records --format=csv \
  --output="$work/export2.csv"
[ "$(grep -c '^patient-' "$work/export2.csv")" -eq 1000 ] ||
  fail "after re-encryption with k1 dropped, export has $(grep -c '^patient-' "$work/export2.csv") of 1000 records"
start registry "$work/registry" --encryption_key_file="$work/keys2" \
  --encryption_active_key=k2
ctl download --target="127.0.0.1:$port" --version=models/enc/versions/1 \
  --output="$work/download2.bin" >/dev/null
cmp -s "$work/artifact.bin" "$work/download2.bin" || fail "artifact after re-encryption differs"
stop_all
echo "rotation: 1000 records and the artifact read back with k2 alone"

# 4. No key bytes in any log or output.
for key in "$k1" "$k2" "$k1_wrong"; do
  if grep -rq "$key" "$work"/*.log "$work"/*.out; then
    fail "a key appears in a log"
  fi
done
"$bin_dir/continuum-collector" --help >"$work/help.out" 2>&1 || true
grep -q -- "--encryption_key_file" "$work/help.out" ||
  fail "--help does not list --encryption_key_file"
echo "PASS"
