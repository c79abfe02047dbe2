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
# Bad lines in the middle of a file keep their own message (not "cannot parse this line").
printf '[train]\nlr = 1e-4\nepoch = 3\nbatch_size = 64\n[data]\nmax_words = 50\n' >"$T/mid.ini"
expect 1 "mid.ini:3: unknown key 'epoch' in section \[train\] \(did you mean 'epochs'\?\)" -- "$A" config "$T/mid.ini"
printf '[train]\nbatch_size = 0\nlr = 1e-4\n' >"$T/range.ini"
expect 1 "range.ini:2: \[train\] batch_size = 0 is out of range \[1, 100000000\]; HINT: " -- "$A" config "$T/range.ini"
printf '[job]\ninclude = nowhere.ini\n[train]\nlr = 1e-4\n' >"$T/inc.ini"
expect 1 "inc.ini:2: \[job\] include: .*nowhere.ini: cannot open job file: No such file" -- "$A" config "$T/inc.ini"
printf '[job]\ninclude = self.ini\n[train]\nlr = 1e-4\n' >"$T/self.ini"
expect 1 "self.ini:2: \[job\] include: .*self.ini includes itself" -- "$A" config "$T/self.ini"
mkdir -p "$T/folder.ini"
expect 1 "folder.ini: is a directory, not a job file" -- "$A" config "$T/folder.ini"
# Values the schema refuses are errors, never a crash; --set values name the --set argument.
expect 1 "--set eval.pca_components: \[eval\] pca_components = -1 is out of range \[0, 4096\]" -- "$A" config "$T/job.ini" --set eval.pca_components=-1
expect 1 "--set train.batch_size: \[train\] batch_size = 0 is out of range" -- "$A" config "$T/job.ini" --set train.batch_size=0

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
