"""Remote object stores: one module per kind behind the `Store` protocol.

Owns `base` (the `Store` protocol and how a remote is chosen: `open_store`, `resolve`),
`stored` (what a store says it holds, and whether that is the object), `local` (a
directory), `s3` (boto3, imported only there), `lfs` + `lfs_endpoint` (the Git LFS Batch API
and endpoint discovery), `http` (GET/HEAD/PUT, WebDAV), `httpio` (the requests plumbing both
HTTP stores share), `credential` (`git credential`) and `retry` (the remote error family and
backoff).

May import: `gitmv.objects`, `gitmv.repo`, `gitmv.config`, `gitmv.fsutil`, `gitmv.errors`,
`gitmv.ui`. Never the work tree, transfers, the registry, review or hooks: a store moves the
bytes it is handed. This `__init__` imports nothing, so choosing a directory store never
imports requests or boto3.
"""
