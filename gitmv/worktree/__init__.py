"""The work tree: which artifacts it holds, what changed, and making it match the pointers.

Owns `workspace` (the repository + config + cache + stat cache a command works on; `add`,
`status`, scanning directories, `.gitignore` upkeep), `checkout` (writing artifacts out of the
cache, never over unsaved bytes) and `diffing` (artifacts at a revision or in the work tree,
and the difference between two such states).

May import: `gitmv.objects`, `gitmv.repo`, `gitmv.config`, `gitmv.fsutil`, `gitmv.errors`,
`gitmv.ui`. Never remotes or transfers (a checkout uses what is cached; fetching is
`gitmv.transfer`'s job), the registry, review or hooks. This `__init__` imports nothing.
"""
