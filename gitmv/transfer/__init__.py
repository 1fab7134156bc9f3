"""Moving objects between the cache and a store, and deciding what may be deleted.

Owns `engine` (batched existence checks, the thread pool fed through a bounded window,
uploads confirmed by the store, verified resumable downloads bounded by size and deadline,
retries, progress), `reach` (which objects a set of commits, the index or the work trees
name), `sync` (push / fetch of artifacts: manifests after the files they name), `audit`
(`fsck`: pointer sizes, a store's objects checked and repaired) and `gc` (what nothing
needs, in the cache and on a store).

May import: `gitmv.objects`, `gitmv.worktree`, `gitmv.remotes`, `gitmv.repo`, `gitmv.config`,
`gitmv.fsutil`, `gitmv.errors`, `gitmv.ui`. Never the registry, review, hooks or commands.
This `__init__` imports nothing.
"""
