"""The model registry in git tags (GTO's naming): versions, stages, their history.

Owns `read` (one `for-each-ref` folded into models, versions and stages; `load`,
`Registry.resolve`), `semver` (semver 2.0 parsing and precedence), `write` (register, promote,
deprecate: the checks, the TOML snapshot, the annotated tag, `--push`), `card` (model cards)
and `envinfo` (the environment a registration records).

May import: `gitmv.objects`, `gitmv.worktree`, `gitmv.repo`, `gitmv.config`, `gitmv.fsutil`,
`gitmv.errors`, `gitmv.ui`; `write` may import `gitmv.review.metrics` (a snapshot records
params and metrics), `gitmv.transfer` and `gitmv.remotes` (`--push` sends the bytes before the
tag). `read` and `semver` import only `gitmv.repo` and `gitmv.errors`, so the review may read
the registry without a cycle. Never hooks or commands. This `__init__` imports nothing.
"""
