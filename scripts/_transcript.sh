# Sourced by the walk-through scripts (registry-walkthrough.sh, gto-walkthrough.sh): a fixed
# clock and a Markdown transcript of commands with their real output. Needs CLOCK (seconds,
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
