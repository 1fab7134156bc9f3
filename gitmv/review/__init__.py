"""The review of a change: params and metrics, gates, plots.

Owns `metrics` (params and metrics read from tracked files at a revision or in the work tree,
flattened, diffed with directions; what a registration records), `gates` (the `[gates]` rules
evaluated against a baseline; builds on `metrics`, never the other way round) and `plot` (a
metric across commits, drawn with matplotlib from the `plots` extra).

May import: `gitmv.worktree` (a workspace to read from), `gitmv.repo`, `gitmv.config`,
`gitmv.fsutil`, `gitmv.errors`, `gitmv.ui`, and `gitmv.registry.read` / `semver` (a baseline
may be named `MODEL#STAGE`). Never transfers, remotes, hooks or commands.
This `__init__` imports nothing.
"""
