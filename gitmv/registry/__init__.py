"""The model registry in git tags (GTO's naming): versions, stages, their history.

Owns `read` (the tags folded into models, versions and stages; `load`,
`Registry.resolve`), `tags` (reading the tags through a cache keyed by tag object id),
`semver` (semver 2.0 parsing and precedence), `write` (register, promote,
deprecate: the checks, the TOML snapshot, the annotated tag, `--push`), `rollback` (the
version a rollback puts back; the rollback drill), `card` (model cards)
and `envinfo` (the environment a registration records).

May import: `gitmv.objects`, `gitmv.worktree`, `gitmv.repo`, `gitmv.config`, `gitmv.fsutil`,
`gitmv.errors`, `gitmv.ui`; `write` also `gitmv.transfer` and `gitmv.remotes` (`--push` sends
the bytes before the tag), `rollback` too (the drill verifies the bytes on the store).
Never the review: the params and metrics a snapshot records are
read by the caller and handed in, so the review may resolve a baseline named `MODEL#STAGE`
through `read`. Never hooks or commands. This `__init__` imports nothing.
"""
