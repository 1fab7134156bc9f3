#!/usr/bin/env bash
# The pull-request review example of docs/ci.md, rebuilt from nothing: a team repository with
# params.toml, metrics.toml, a model file and a dataset directory; a pull request that retrains
# the model on more data; then what CI does for it (fetch, report, check), exactly as the
# workflow runs it, and a second push whose loss regresses so a gate fails.
#
#   scripts/ci/example.sh               print the outputs
#   scripts/ci/example.sh --update-doc  also rewrite the example blocks in docs/ci.md
#   scripts/ci/example.sh --out DIR     keep each output in DIR (tests compare it with the doc)
#
# Dates, names and bytes are fixed, so the commits, oids and every number come out the same
# on every run (only gitmv's own output can change them: then the doc is due an update).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY=python3  # a gitmv already on PATH (as in the tests), else the project's .venv
if ! { command -v git-mvm >/dev/null && "$PY" -c "import gitmv" 2>/dev/null; }; then
    source "$ROOT/scripts/_venv.sh"
    ensure_venv >/dev/null
    PY="$VENV/bin/python"
fi
update_doc=false
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
out="$work/out"
case "${1:-}" in
    --update-doc) update_doc=true ;;
    --out) out="$(cd "$2" && pwd)" ;;
    "") ;;
    *) echo "usage: $0 [--update-doc | --out DIR]" >&2; exit 2 ;;
esac
mkdir -p "$out" "$work/home"
# a hermetic git: no user or system config, fixed identity and dates
for v in $(env | sed -n 's/^\(GIT_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
export HOME="$work/home" GIT_CONFIG_NOSYSTEM=1 LC_ALL=C.UTF-8 TZ=UTC
export GIT_AUTHOR_NAME="Ana" GIT_AUTHOR_EMAIL="ana@example.com"
export GIT_COMMITTER_NAME="Ana" GIT_COMMITTER_EMAIL="ana@example.com"
git config --global init.defaultBranch main
when() { export GIT_AUTHOR_DATE="$1" GIT_COMMITTER_DATE="$1"; }

# bytes of a given size that depend only on a name: `blob NAME SIZE > FILE`
blob() { python3 -c 'import hashlib,sys
name, size = sys.argv[1].encode(), int(sys.argv[2])
seed, out = hashlib.sha256(name).digest(), bytearray()
while len(out) < size:
    seed = hashlib.sha256(seed).digest(); out += seed
sys.stdout.buffer.write(bytes(out[:size]))' "$1" "$2"; }

# --- the team's repository, main branch ------------------------------------------------------
git init -q --bare "$work/origin.git"
git init -q "$work/classifier"
cd "$work/classifier"
git remote add origin "$work/origin.git"
git mvm init -q
cat > .mvm/config.toml <<'EOF'
[metrics]
files = ["metrics.toml"]
better = { accuracy = "higher", f1 = "higher", loss = "lower" }

[params]
files = ["params.toml"]

[gates]
accuracy = ">= 0.90"
loss = "no-regression 2%"
f1 = "improves 0.5%"
EOF
cat > params.toml <<'EOF'
[train]
lr = 0.001
epochs = 10
batch_size = 32
optimizer = "adam"
EOF
cat > metrics.toml <<'EOF'
[eval]
accuracy = 0.912
loss = 0.245
f1 = 0.897
EOF
mkdir -p models data/train/cats data/train/dogs
blob model-v1 1500000 > models/classifier.pt
for i in 1 2 3 4; do blob "cat$i" $((20000 + i * 1000)) > "data/train/cats/$i.jpg"; done
for i in 1 2 3; do blob "dog$i" $((30000 + i * 1000)) > "data/train/dogs/$i.jpg"; done
git mvm add -q models/classifier.pt data/train
git add .mvm/config.toml params.toml metrics.toml
when "2026-03-02T09:00:00Z"
git commit -q -m "Classifier v1"
git push -q origin main

# --- a pull request: more data, a lower learning rate, a retrained model ---------------------
git checkout -q -b retrain
sed -i 's/^lr = 0.001/lr = 0.0005/; s/^epochs = 10/epochs = 14/' params.toml
cat > metrics.toml <<'EOF'
[eval]
accuracy = 0.927
loss = 0.231
f1 = 0.915
EOF
for i in 5 6; do blob "cat$i" $((20000 + i * 1000)) > "data/train/cats/$i.jpg"; done
blob dog2-relabelled 31000 > data/train/dogs/2.jpg
rm data/train/dogs/3.jpg
blob model-v2 1620000 > models/classifier.pt
git mvm add -q models/classifier.pt data/train
git add params.toml metrics.toml
when "2026-03-03T14:30:00Z"
git commit -q -m "Retrain on more data with lr 0.0005"
git push -q origin retrain
{   # what the pointers' diff looks like locally (`git mvm init` installed the diff driver)
    echo "\$ git diff main retrain -- '*.mvm'"
    git diff main retrain -- '*.mvm'
} > "$out/pointer-diff.txt"

# --- CI: a fresh clone at the pull request's head (no hooks, no gitmv cache) -----------------
git clone -q "$work/origin.git" "$work/ci"
cd "$work/ci"
git checkout -q retrain
{
    echo "\$ python gitmv_pr.py fetch origin/main HEAD"
    "$PY" "$ROOT/scripts/ci/gitmv_pr.py" fetch origin/main HEAD 2>&1
} > "$out/fetch.txt"
git mvm report origin/main HEAD --md > "$out/report.md"
{
    echo "\$ git mvm check --baseline origin/main"
    rc=0; git mvm check --baseline origin/main 2>&1 || rc=$?
    echo "\$ echo \$?"; echo "$rc"
} > "$out/check-pass.txt"

# --- a second push to the pull request: the loss regresses -----------------------------------
cd "$work/classifier"
sed -i 's/^loss = 0.231/loss = 0.262/; s/^f1 = 0.915/f1 = 0.899/' metrics.toml
when "2026-03-04T08:15:00Z"
git commit -q -am "Train 2 more epochs"
git push -q origin retrain
cd "$work/ci"
git pull -q --ff-only origin retrain
{
    echo "\$ git mvm check --baseline origin/main"
    rc=0; git mvm check --baseline origin/main 2>&1 || rc=$?
    echo "\$ echo \$?"; echo "$rc"
} > "$out/check-fail.txt"
git mvm report origin/main HEAD --md > "$out/report-2.md"

for name in pointer-diff.txt fetch.txt report.md check-pass.txt check-fail.txt report-2.md; do
    printf '==> %s\n' "$name"
    cat "$out/$name"
    echo
done

if $update_doc; then
    python3 - "$ROOT/docs/ci.md" "$out" <<'EOF'
import pathlib, re, sys
doc, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
text = doc.read_text()
def put(match):
    name = match.group(1)
    body = (out / name).read_text()
    fence = "````" if "```" in body else "```"
    lang = "markdown" if name.endswith(".md") else "console"
    return f"<!-- example:{name} -->\n{fence}{lang}\n{body.rstrip()}\n{fence}\n<!-- /example:{name} -->"
new = re.sub(r"<!-- example:(\S+) -->.*?<!-- /example:\1 -->", put, text, flags=re.S)
doc.write_text(new)
print(f"updated {doc}", file=sys.stderr)
EOF
fi
