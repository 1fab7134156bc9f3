#!/usr/bin/env bash
# docs/migrating-gto.md's walk-through, run for real: a registry gto made (a model committed
# to git, versions, a stage in .gto's `prod`), read by gitmv as it is; the model then moved
# into gitmv, registered and promoted by gitmv, read back by gto; JSON in gto's shape.
#
#   scripts/gto-walkthrough.sh            print the transcript (Markdown)
#   scripts/gto-walkthrough.sh --write    also replace it in docs/migrating-gto.md
#
# gto is $GTO, else .venv-gto/bin/gto (tests/gto.py makes it). Dates and identities are
# fixed, so commits are the same every run; gto dates its tags by the clock (it ignores
# GIT_COMMITTER_DATE), and gitmv dates its own after them, so tag dates differ between runs
# (tests/registry/test_migrating_gto_doc.py checks the doc against a fresh run, dates aside).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GTO="${GTO:-$ROOT/.venv-gto/bin/gto}"
[ -d "$ROOT/.venv/bin" ] && export PATH="$ROOT/.venv/bin:$PATH"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
for v in $(env | grep -o '^GIT_[A-Z_]*' || true); do unset "$v"; done
export HOME="$WORK/home" GIT_CONFIG_NOSYSTEM=1 LC_ALL=C.UTF-8 TZ=UTC
export GTO_EMOJIS=false NO_COLOR=1 COLUMNS=120
mkdir -p "$HOME" "$WORK/bin"
printf '[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n' > "$HOME/.gitconfig"
ln -s "$GTO" "$WORK/bin/gto"
export PATH="$WORK/bin:$PATH"
export GIT_AUTHOR_NAME=Alice GIT_COMMITTER_NAME=Alice
export GIT_AUTHOR_EMAIL=alice@example.com GIT_COMMITTER_EMAIL=alice@example.com

CLOCK=1767261600   # 2026-01-01 10:00 UTC; every step is one minute later
OUT="$WORK/transcript.md"
SAFE_ARG='^[A-Za-z0-9_./@:=+#-]+$'
source "$ROOT/scripts/_transcript.sh"   # tick, say, run, quiet

git init -q "$WORK/shop" && cd "$WORK/shop"
say "A registry gto made: the model committed to git, two versions, \`prod\` declared in \`.gto\`."
say ""
printf 'stages: [dev, prod]\n' > .gto
mkdir models && printf 'weights 1\n' > models/clf.pt
printf 'artifacts:\n  clf:\n    path: models/clf.pt\n    type: model\n    desc: sorts tickets\n' > dvc.yaml
quiet git add -A && quiet git commit -q -m "clf, first weights"
quiet gto register clf --version v1.0.0
printf 'weights 2\n' > models/clf.pt
quiet git commit -q -am "clf, second weights"
quiet gto register clf --bump-minor
quiet gto assign clf --version v1.1.0 --stage prod
run gto show
say ""
say "gitmv reads it as it is: no config, no conversion (\`git mvm init\` only adds its own)."
say ""
quiet git mvm init --no-hooks
quiet git add -A && quiet git commit -q -m "gitmv"
run git mvm show
run git mvm show clf#prod --version
run git mvm get clf#prod -o deploy/clf.pt
say ""
say "Move the model into gitmv (bytes in its cache and remote store, a pointer in git), then"
say "register and promote with gitmv; gto reads what gitmv wrote."
say ""
quiet git rm -q --cached models/clf.pt
printf 'weights 3\n' > models/clf.pt
quiet git mvm add models/clf.pt
quiet git add -A && quiet git commit -q -m "clf in gitmv, third weights"
run git mvm register --no-env clf --bump-minor
run git mvm promote clf v1.2.0 prod
run gto show
run git mvm rollback clf prod -m "v1.2.0 mislabels refunds"
run gto show clf#prod --ref
run git mvm history clf
run git mvm check-ref 'clf#prod#3' --json

cat "$OUT"
if [ "${1:-}" = "--write" ]; then
    write_between "$ROOT/docs/migrating-gto.md" gto-walkthrough
fi
