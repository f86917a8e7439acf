#!/usr/bin/env bash
# continuumctl completion bash|zsh: the script completes every command of
# the CLI's list, their verbs and flags (booleans bare, the others with
# '='), and files elsewhere; in bash through `complete -F`, and in zsh
# (through bashcompinit) with the same answers.
# Usage: ctl_completion_test.sh BIN_DIR
set -euo pipefail
bin_dir="$1"
ctl="$bin_dir/continuumctl"
work="$(mktemp -d "${TMPDIR:-/tmp}/ctl_completion.XXXXXX")"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$ctl" completion bash >"$work/continuumctl.bash"
"$ctl" completion zsh >"$work/_continuumctl"
status=0
"$ctl" completion fish >/dev/null 2>&1 || status=$?
[ "$status" -eq 2 ] || fail "completion fish exited $status, not 2"

# complete WORDS...: what the script offers for the last word (bash).
complete_bash() {
  bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1));
    _continuumctl; printf "%s\n" "${COMPREPLY[@]}"' _ "$work/continuumctl.bash" "$@"
}
expect() {  # expect WANT WORDS...
  local want="$1"; shift
  local got
  got="$(complete_bash "$@" | tr '\n' ' ' | sed 's/ $//')"
  [ "$got" = "$want" ] || fail "completing '$*': got '$got', want '$want'"
}
expect "datasets" continuumctl dat
expect "trainer" continuumctl trai
expect "trigger" continuumctl trainer tr
expect "--epochs=" continuumctl trainer trigger --ep
expect "--wait" continuumctl trainer trigger --wa
expect "init import inspect" continuumctl model i
expect "--targets= --torchscript= --task= --trainable= --train=" continuumctl model import --t
expect "--target= --timeout= --tls_ca= --tls_cert= --tls_key= --token_file=" continuumctl datasets list --t
expect "bash" continuumctl completion b
# Files where no verb or flag applies.
touch "$work/rows-for-completion.csv"
expect "$work/rows-for-completion.csv" continuumctl model inspect "$work/rows-for"

# Every command continuumctl lists is completed, and nothing else.
usage="$("$ctl" 2>&1 || true)"
listed="$(sed -n 's/^  \([a-z]*\)\t.*/\1/p' <<<"$usage" | sort | tr '\n' ' ')"
offered="$(complete_bash continuumctl "" | sort | tr '\n' ' ')"
[ "$listed" = "$offered" ] || fail "commands listed: $listed; completed: $offered"

# zsh, through bashcompinit: the same answers.
if ! command -v zsh >/dev/null; then
  echo "zsh is not installed (scripts/install-deps installs it)"
  exit 1
fi
# bashcompinit's compgen -F runs the function under `emulate -L sh` (arrays
# from 0, as in bash): the test calls it the same way.
got="$(zsh -f -c '
  autoload -U compinit && compinit -u >/dev/null 2>&1
  source "$1"
  print -r -- "registered: ${_comps[continuumctl]}"
  t() {
    emulate -L sh
    setopt kshglob noshglob braceexpand
    COMP_WORDS=(continuumctl trainer trigger --ep); COMP_CWORD=3
    _continuumctl; print -r -- "${COMPREPLY[@]}"
  }
  t' _ "$work/_continuumctl" 2>&1)"
# (zsh's compgen -W returns every word and lets zsh's matcher filter by
# the prefix typed: the flags of `trainer` are offered, --epochs= among them.)
grep -qx "registered: _bash_complete -F _continuumctl" <<<"$got" ||
  fail "zsh: continuumctl is not registered: $got"
flags_line="$(sed -n 2p <<<"$got")"
[ "$flags_line" = "$(complete_bash continuumctl trainer trigger -- | tr '\n' ' ' | sed 's/ $//')" ] ||
  fail "zsh offers '$flags_line' for trainer's flags, bash offers other ones"
grep -qw -- "--epochs=" <<<"$flags_line" || fail "zsh: no --epochs= in '$flags_line'"
echo "PASS: bash and zsh complete $(wc -w <<<"$listed") commands, their verbs, flags and files"
