"""The benchmark: gitmv next to dvc, git-lfs and gto on generated workloads, written into
docs/benchmarks.md.  Run it through `scripts/bench` (which prepares the virtualenvs and
git-lfs, then runs `python scripts/benchmarks "$@"`).

What it measures, one module per workload group:
  core.py      add a big file, add a directory of many small files, status, checkout of a
               deleted directory, re-add after one change; beside dvc, git-lfs and a plain
               Python floor (the core report, above the KEEP line of docs/benchmarks.md)
  remote.py    the cost of gitmv's git hooks; push / no-op push / pull to a directory store and
               to S3 (moto on loopback) beside dvc and a boto3 floor (`scripts/bench --remote`)
  registry.py  `git mvm show` / `history` on thousands of tags beside gto and a git floor
               (`scripts/bench --registry`)
  api.py       time to the first byte and peak memory of `gitmv.api.open` on a 1 GiB artifact,
               from the cache and from a directory store, each read in a fresh process
               (api_read.py, which tests/api/test_api_big.py runs too) (`scripts/bench --api`)
  storage.py   what a second push adds to a directory store and to S3 after a small change,
               with the requests it made; add / status / push / pull from 10,000 to 1,000,000
               files (`scripts/bench --storage`)

and what they share:
  harness.py   the one hermetic environment, running and measuring a command (wall time, peak
               RSS, CPU, bytes read), waiting for a quiet machine, logging, generated inputs
  tools.py     the tools core.py compares (GitMv, Dvc, GitLfs, Floor)
  s3.py        moto's server on loopback, counting the requests of each command from its log
  report.py    targets, number formats, tables, the core report with machine and versions,
               and the writer of the marked sections below KEEP
  __main__.py  the command line: options of each group and which groups a run runs

Standard library only: the tools are found on PATH (`git-mvm`, `dvc`, `git-lfs`, `gto` from
its own venv), so the harness measures them from outside, the way a user runs them.  The one
exception is registry.py, which imports gitmv.registry.envinfo to write the environment
snapshot the registry tags carry (and tests/gto.py to find gto); S3 rows use boto3 from the
gitmv venv that scripts/bench runs this with.
"""
