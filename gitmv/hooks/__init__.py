"""Git integration: the hooks, the diff driver, and installing them.

Owns `run` (what each hook does; imports only the standard library at the top, so a hook with
nothing to do costs a Python start and a git call or two), `install` (the shims in `shims/`
installed where git really looks, chaining a foreign hook; the diff driver's config) and
`textconv` (the `mvm` diff driver: a pointer shown as kind, size, files, oid).

May import anything below the commands: `gitmv.objects`, `gitmv.worktree`, `gitmv.transfer`,
`gitmv.remotes`, `gitmv.repo`, `gitmv.config`, `gitmv.errors`, `gitmv.ui`, but only inside the
hook that needs it, never at module level. Never `gitmv.commands` or `gitmv.cli`.
This `__init__` imports nothing: `git mvm hook NAME` loads it on every commit and checkout.
"""
