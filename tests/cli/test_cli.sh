#!/usr/bin/env bash
# CLI behaviour: exit codes, one-line errors naming the key and file, overrides, --help.
set -u
A=${ADAPTOR_BIN:?}
T=$(mktemp -d "${ADAPTOR_TEST_TMP:-/tmp}/cli.XXXXXX")
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# expect CODE PATTERN -- command...: exit status and a stderr/stdout line matching PATTERN
expect() {
  local code=$1 pat=$2
  shift 3
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" != "$code" ]; then bad "$* exited $rc, expected $code: $out"; return; fi
  if ! grep -qE -- "$pat" <<<"$out"; then bad "$*: output lacks /$pat/: $out"; return; fi
  ok
}

expect 0 '^adaptor [0-9]+\.[0-9]+\.[0-9]+ \(git [0-9a-f]+' -- "$A" --version
expect 2 'unknown command' -- "$A" frobnicate
expect 2 'usage: adaptor' -- "$A"
for c in synth info config check tokenize encode-text; do
  expect 0 "usage: .*adaptor $c" -- "$A" "$c" --help
done
expect 0 'batch_size +integer +default: 1024' -- "$A" config --reference

cat >"$T/job.ini" <<'INI'
[train]
lr = 1e-4
batch_size = 64
[data]
manifest = corpus/manifest.csv
INI
expect 0 '^lr = 1e-4' -- "$A" config "$T/job.ini"
expect 0 "^manifest = $T/corpus/manifest.csv" -- "$A" config "$T/job.ini"
expect 0 '^lr = 3e-4 +; from --set' -- "$A" config "$T/job.ini" --set train.lr=3e-4
expect 0 '^num_layers = 4' -- "$A" config --set adaptor.num_layers=4 "$T/job.ini"
out=$("$A" config "$T/job.ini" --set train.epochs=3 2>/dev/null)
printf '%s\n' "$out" >"$T/effective.ini"
if "$A" config "$T/effective.ini" | grep -q '^epochs = 3'; then ok; else bad "dumped config does not load back"; fi

printf '[train]\nlrr = 1\n' >"$T/typo.ini"
expect 1 "typo.ini:2: unknown key 'lrr' in section \[train\]" -- "$A" config "$T/typo.ini"
printf '[train]\nbatch_size = big\n' >"$T/type.ini"
expect 1 "type.ini:2: \[train\] batch_size = 'big' is not a valid integer" -- "$A" config "$T/type.ini"
expect 1 "--set train.epochs: \[train\] epochs = 'x'" -- "$A" config "$T/job.ini" --set train.epochs=x
expect 1 "--set: unknown|unknown key 'nope'" -- "$A" config "$T/job.ini" --set adaptor.nope=1
expect 1 "nothere.ini: cannot open job file" -- "$A" config "$T/nothere.ini"
expect 2 "--set needs" -- "$A" config "$T/job.ini" --set
# The shipped job files load.
for f in "$(dirname "$0")"/../../jobs/demo.ini "$(dirname "$0")"/../../jobs/paper/*-*.ini; do
  if "$A" config "$f" >/dev/null 2>"$T/err"; then ok; else bad "$f: $(cat "$T/err")"; fi
done

# Errors are one line.
n=$("$A" config "$T/typo.ini" 2>&1 | wc -l)
[ "$n" = 1 ] && ok || bad "error took $n lines"

rm -rf "$T"
echo "$pass passed, $fail failed"
[ $fail = 0 ]
