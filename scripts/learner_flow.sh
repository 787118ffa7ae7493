#!/usr/bin/env bash
# A scripted learner session on a throwaway copy of this repository, with a fake clock:
# pristine run, a wrong attempt, a right one, a redo when due, four runs at once, and a
# malformed record. Usage: scripts/learner_flow.sh [python]  (default: .venv/bin/python)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
py=${1:-$here/.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git -C "$here" ls-files -z | (cd "$here" && xargs -0 cp --parents -t "$work")
cd "$work"
unset DOJO_PROGRESS DOJO_ROOT DOJO_DEVICE
export DOJO_TODAY=2026-11-21
say() { printf '\n$ %s\n' "$*"; }
dojo_lines() { sed -n '/-- dojo --/,/^=\|^[0-9]* \(passed\|failed\)/p' | grep -v '^=\|-- dojo --' || true; }
run() { say "DOJO_NOW=$DOJO_NOW pytest $*"; "$py" -m pytest -q "$@" 2>&1 | dojo_lines || true; }

export DOJO_NOW=2026-11-21T10:00:00+00:00
run --kata logistic_regression
export DOJO_NOW=2026-11-21T10:05:00+00:00
# a classic bug: the gradient is summed, not averaged
sed 's|dw = X.T @ err / n  # (d,)|dw = X.T @ err  # (d,)|' solutions/logistic_regression.py \
    > katas/logistic_regression/starter.py
run --kata logistic_regression
export DOJO_NOW=2026-11-21T10:17:32+00:00
cp solutions/logistic_regression.py katas/logistic_regression/starter.py
run --kata logistic_regression -k sigmoid
run --kata logistic_regression
say "cat progress.toml"; cat progress.toml

export DOJO_TODAY=2026-11-23 DOJO_NOW=2026-11-23T09:00:00+00:00
run --redo-due
say "ls attempts/logistic_regression"; ls attempts/logistic_regression
say "cmp katas/logistic_regression/starter.py <(pristine)"
"$py" -c "
import pathlib
from dojo.starters import pristine
s = pathlib.Path('solutions/logistic_regression.py').read_text()
same = pathlib.Path('katas/logistic_regression/starter.py').read_text() == pristine(s, 'logistic_regression')
print('starter is pristine again' if same else 'starter is NOT pristine')"

say "four pytest processes at once, on four katas"
for k in logistic_regression t_tests attention quantization; do
    cp "solutions/$k.py" "katas/$k/starter.py"
done
"$py" -m dojo.cli start t_tests >/dev/null; "$py" -m dojo.cli start attention >/dev/null
"$py" -m dojo.cli start quantization >/dev/null
export DOJO_NOW=2026-11-23T09:20:00+00:00
for k in logistic_regression t_tests attention quantization; do
    "$py" -m pytest -q -p no:cacheprovider --kata "$k" > "$work/$k.log" 2>&1 &
done
wait
"$py" -c "
import tomllib
d = tomllib.load(open('progress.toml', 'rb'))['katas']
for slug, t in sorted(d.items()):
    print(f'{slug}: {len(t.get(\"passes\", []))} passes, due {t.get(\"due\")}, open: {\"attempt_started\" in t}')"

say "a malformed progress.toml is reported and left byte-for-byte unchanged"
sed -i 's/^interval = 6/interval = "six"/; s/^interval = 1$/interval = "one"/' progress.toml
before=$(sha256sum progress.toml)
run --kata t_tests
[ "$before" = "$(sha256sum progress.toml)" ] && echo "progress.toml unchanged"
