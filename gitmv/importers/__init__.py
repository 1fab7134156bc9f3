"""Importers: bring a repository versioned with another tool over to gitmv in one command.

Owns one module per source system, `lfs` (Git LFS pointers and `.git/lfs/objects`) and `dvc`
(`.dvc` files, `dvc.lock` outputs and DVC's cache), and `common`, what both do the same way
(write the pointers, ignore the artifacts, stage them, and last unstage what they replace).

May import: `gitmv.worktree` (the workspace whose cache and stat cache they fill),
`gitmv.remotes` (finding the Git LFS endpoint the imported objects already live on),
`gitmv.objects`, `gitmv.repo`, `gitmv.config`, `gitmv.fsutil`, `gitmv.errors`, `gitmv.ui`.
Never transfers, the registry, the review, hooks or commands: a command configures remotes
and pushes. This `__init__` imports nothing.
"""
