#!/usr/bin/env bash
# The continuumctl command list has one source, the CLI itself: `continuumctl`
# with no command prints it. This checks that the README's list names exactly
# those commands and that docs/quickstart.md pastes the CLI's output as it is;
# and that continuumctl does not link LibTorch (the model commands run
# continuum-model, which does), so that it starts in milliseconds.
# Usage: cli_docs_test.sh BIN_DIR SOURCE_DIR
set -euo pipefail
bin_dir="$1"
src="$2"
ctl_libs="$(ldd "$bin_dir/continuumctl")"
model_libs="$(ldd "$bin_dir/continuum-model")"
if grep -E 'libtorch|libc10' <<<"$ctl_libs"; then
  echo "FAIL: continuumctl links LibTorch (above); only continuum-model may"
  exit 1
fi
grep -q libtorch_cpu <<<"$model_libs" ||
  { echo "FAIL: continuum-model does not link LibTorch: is it the model tool?"; exit 1; }
out="$("$bin_dir/continuumctl" 2>&1 || true)"
exec /usr/bin/python3 - "$src" "$out" "$bin_dir/continuumctl" <<'PY'
import re, subprocess, sys
src, out, ctl = sys.argv[1], sys.argv[2], sys.argv[3]
cli = [m.group(1) for m in re.finditer(r"^  (\S+)\t", out, re.M)]
if not cli:
    sys.exit("continuumctl printed no command list:\n" + out)
failures = []

readme = open(f"{src}/README.md").read()
m = re.search(r"^- \*\*continuumctl\*\*:(.*?)(?=^- \*\*|\Z)", readme, re.M | re.S)
if not m:
    failures.append("README.md has no '- **continuumctl**:' item")
else:
    listed = [w.split()[0] for w in re.findall(r"`([^`]+)`", m.group(1))
              if not w.startswith("continuumctl")]
    if sorted(set(listed)) != sorted(cli) or len(listed) != len(set(listed)):
        failures.append(
            "README.md's continuumctl item lists %s; continuumctl has %s "
            "(missing: %s; unknown: %s)" % (listed, cli,
            sorted(set(cli) - set(listed)), sorted(set(listed) - set(cli))))

quick = open(f"{src}/docs/quickstart.md").read()
m = re.search(r"^\$ \./build/bin/continuumctl\n(.*?)^```", quick, re.M | re.S)
if not m:
    failures.append("docs/quickstart.md does not paste `$ ./build/bin/continuumctl`")
elif m.group(1).strip() != out.strip():
    failures.append("docs/quickstart.md's pasted `continuumctl` output differs "
                    "from what continuumctl prints:\n" + out)

calls = [[ctl, name, "--help"] for name in cli] + [[ctl, "help", cli[0]],
                                                   [ctl, cli[-1], "-h"],
                                                   [ctl, "help", "model"],
                                                   [ctl, "model", "-h"]]
for argv in calls:
        name = argv[2] if argv[1] == "help" else argv[1]
        r = subprocess.run(argv, capture_output=True, text=True)
        if r.returncode != 0 or not r.stdout.startswith(
                f"Usage: continuumctl {name}"):
            failures.append(f"{' '.join(argv[1:])} exited {r.returncode} "
                            f"and printed: {(r.stdout + r.stderr)[:200]!r}")
        elif "Flags from" in r.stdout or "continuumctl: continuumctl" in r.stdout:
            failures.append(f"{' '.join(argv[1:])} printed absl's flag dump")
r = subprocess.run([ctl, "--help"], capture_output=True, text=True)
if r.returncode != 0 or r.stdout.strip() != out.strip():
    failures.append("continuumctl --help does not print the command list, exit 0")

for f in failures:
    print("FAIL:", f)
if failures:
    sys.exit(1)
print(f"ok: {len(cli)} commands, README and quickstart agree with continuumctl")
PY
