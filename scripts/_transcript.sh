# Sourced by the walk-through scripts (registry-walkthrough.sh, gto-walkthrough.sh): a fixed
# clock and a Markdown transcript of commands with their real output, written into a doc. Needs CLOCK (seconds,
# the first step's time less a minute) and OUT (the transcript file); SAFE_ARG is the pattern
# of arguments shown without quotes.
SAFE_ARG="${SAFE_ARG:-^[A-Za-z0-9_./@:=+-]+$}"
tick() {  # one minute later, for git's author and committer dates
    CLOCK=$((CLOCK + 60))
    export GIT_AUTHOR_DATE="$CLOCK +0000" GIT_COMMITTER_DATE="$CLOCK +0000"
}
say() { printf '%s\n' "$*" >> "$OUT"; }
run() {  # run CMD…: show the command and its output (stdout and stderr) in a code block
    tick
    say '```console'
    local shown="" a
    for a in "$@"; do
        if [[ "$a" =~ $SAFE_ARG ]]; then shown+=" $a"; else shown+=" '$a'"; fi
    done
    say "\$${shown}"
    local rc=0
    "$@" >> "$OUT" 2>&1 || rc=$?
    [ "$rc" = 0 ] || say "(exit $rc)"
    say '```'
}
quiet() { tick; "$@" > /dev/null 2>&1; }
write_between() {  # write_between FILE NAME: the transcript into FILE, between its markers
    python3 - "$1" "$2" "$OUT" <<'PY'
import sys
path, name, transcript = sys.argv[1], sys.argv[2], open(sys.argv[3]).read()
begin, end = f"<!-- {name}: begin -->\n", f"<!-- {name}: end -->"
text = open(path).read()
head, _, rest = text.partition(begin)
_, _, tail = rest.partition(end)
open(path, "w").write(head + begin + transcript + end + tail)
PY
}
