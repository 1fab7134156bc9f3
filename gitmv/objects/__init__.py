"""The object store and its formats: bytes named by their sha256.

Owns `hashing` (streamed sha256, hash-while-copying), `cache` (the content-addressed cache:
put, read verified, link out), `state` (the stat cache: which work-tree files have which oid),
`pointer` and `manifest` (the on-disk formats of an artifact and of a directory's files).

May import: the standard library, `gitmv.errors`, `gitmv.fsutil`, `gitmv.ui`. Never git
(`gitmv.repo`), the work tree, remotes or anything above them: everything else builds on this.
This `__init__` imports nothing, so importing one module costs only that module.
"""
