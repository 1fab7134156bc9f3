# Sourced by scripts/*: create ./.venv once and (re)install gitmv into it when pyproject.toml
# changed. Idempotent: a second run costs one stamp comparison.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"

ensure_venv() {  # ensure_venv [EXTRAS]   e.g. ensure_venv test
    local extras="${1:-}" spec="$ROOT" stamp
    [ -n "$extras" ] && spec="$ROOT[$extras]"
    stamp="$VENV/.gitmv-stamp-${extras:-base}"
    if [ ! -x "$VENV/bin/python" ]; then
        echo "scripts: creating $VENV" >&2
        "$PY" -m venv "$VENV"
    fi
    if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ] || [ "$ROOT/man/git-mvm.1" -nt "$stamp" ]; then
        echo "scripts: installing gitmv${extras:+[$extras]} into $VENV" >&2
        "$VENV/bin/python" -m pip install -q --upgrade pip >&2
        # compat mode: a plain path entry, not an import hook that costs ~25 ms at every start
        "$VENV/bin/python" -m pip install -q -e "$spec" --config-settings editable_mode=compat >&2
        touch "$stamp"
    fi
    # PYTHONDONTWRITEBYTECODE may be set: compile once so that commands (and hooks) do not compile on every run
    if [ -n "$(find "$ROOT/gitmv" -name '*.py' -newer "$VENV/.gitmv-compiled" 2>/dev/null)" ] \
        || [ ! -f "$VENV/.gitmv-compiled" ]; then
        "$VENV/bin/python" -m compileall -q "$ROOT/gitmv" >/dev/null && touch "$VENV/.gitmv-compiled"
    fi
    export PATH="$VENV/bin:$PATH"
}
