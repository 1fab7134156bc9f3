#!/usr/bin/env bash
# The README's model-registry walkthrough, run for real: a model goes from its first
# registration through staging and production, a regression the check catches, a forced
# promotion, a rollback, the audit history, and a deployment from a fresh clone.
#
#   scripts/registry-walkthrough.sh            print the transcript (Markdown)
#   scripts/registry-walkthrough.sh --readme   also replace it in README.md between markers
#
# Dates and identities are fixed, so commits, tags and the transcript are the same every run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$ROOT/.venv/bin:$PATH"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
for v in $(env | grep -o '^GIT_[A-Z_]*' || true); do unset "$v"; done
export HOME="$WORK/home" GIT_CONFIG_NOSYSTEM=1 LC_ALL=C.UTF-8 TZ=UTC
mkdir -p "$HOME"
printf '[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n' > "$HOME/.gitconfig"

CLOCK=1767261600   # 2026-01-01 10:00 UTC; every step is one minute later
who() {  # who NAME: the person doing the next steps
    export GIT_AUTHOR_NAME="$1" GIT_COMMITTER_NAME="$1"
    export GIT_AUTHOR_EMAIL="${1,,}@example.com" GIT_COMMITTER_EMAIL="${1,,}@example.com"
}
OUT="$WORK/transcript.md"
source "$ROOT/scripts/_transcript.sh"   # tick, say, run, quiet
train() {  # train BYTES ACCURACY: a new model file, its metrics, a commit
    printf '%s\n' "$1" > models/classifier.pt
    printf 'accuracy = %s\nloss = %s\n' "$2" "$3" > metrics.toml
    quiet git mvm add models/classifier.pt
    quiet git add metrics.toml
    quiet git commit -q -m "train: accuracy $2"
}

git init -q --bare "$WORK/origin.git"
who Alice
git init -q "$WORK/shop" && cd "$WORK/shop"
git remote add origin "$WORK/origin.git"
quiet git mvm init
cat >> .mvm/config.toml <<'TOML'

[registry]
stages = ["dev", "staging", "production"]
protected = ["production"]     # promote runs `git mvm check` against the version there now

[models.classifier]
path = "models/classifier.pt"
metrics = ["metrics.toml"]
description = "Sorts support tickets by topic"
TOML
sed -i 's/^# files = \["metrics.toml"\]/files = ["metrics.toml"]/; s/^# better = /better = /; s/^# \[gates\]/[gates]/; s/^# accuracy = ">= 0.90"/accuracy = "no-regression 1%"/' .mvm/config.toml
mkdir -p models
quiet git add .mvm/config.toml
quiet git commit -q -m "registry config"

say "Alice trains a first model, registers it and sends it through staging to production."
say "The tag carries a snapshot: the model's oid, metrics, params, data lineage, environment."
train "weights of the first model" 0.91 0.25
run git mvm register classifier v1.0.0 -m "First model: baseline on the 2025 tickets" --push
run git mvm promote classifier v1.0.0 staging --push
run git mvm promote classifier v1.0.0 production --push
quiet git push -q origin main

say ""
say "A retrained model is better on the metrics and replaces it."
train "weights with more data" 0.94 0.19
run git mvm register classifier --bump-minor --push
run git mvm promote classifier v1.1.0 staging --push
run git mvm promote classifier v1.1.0 production --push
quiet git push -q origin main

say ""
say "The next one regresses: production is protected, so the check refuses it."
train "weights with a shorter schedule" 0.89 0.27
run git mvm register classifier --bump-minor --push
run git mvm promote classifier v1.2.0 staging --push
run git mvm promote classifier v1.2.0 production
quiet git push -q origin main

say ""
say "Bob overrides the check for a customer deadline; the override is recorded in the tag."
who Bob
run git mvm promote classifier v1.2.0 production --force -m "Needed for the new ticket categories; accuracy drop accepted" --push
run git tag -l --format='%(contents)' 'classifier#production#6'
run git mvm show

say ""
say "It misbehaves in production. One command puts back the version that was there before, as"
say "a new event: history is never rewritten."
run git mvm rollback classifier production -m "Misroutes billing tickets (incident 42)" --push
run git mvm show classifier
run git mvm history classifier

say ""
say "A deployment job needs no checkout: it resolves the stage and fetches the verified bytes."
who Deploy
quiet git clone -q "$WORK/origin.git" "$WORK/deploy"
cd "$WORK/deploy"
run git mvm get 'classifier#production' -o serving/model.pt --json
run cat serving/model.pt
say ""

if [ "${1:-}" = "--readme" ]; then
    write_between "$ROOT/README.md" registry-walkthrough
fi
cat "$OUT"
