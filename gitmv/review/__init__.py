"""The review of a change: params and metrics, gates, plots.

Owns `metrics` (params and metrics read from tracked files at a revision or in the work tree,
flattened, diffed with directions), `gates` (the `[gates]` rules evaluated against a baseline)
and `plot` (a metric across commits, drawn with matplotlib from the `plots` extra).

May import: `gitmv.worktree` (a workspace to read from), `gitmv.repo`, `gitmv.config`,
`gitmv.fsutil`, `gitmv.errors`, `gitmv.ui`; `gates` may read the registry (`gitmv.registry.read`)
to resolve a baseline named `MODEL#STAGE`. Never transfers, remotes, hooks or commands.
This `__init__` imports nothing.
"""
