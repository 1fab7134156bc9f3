"""scripts/benchmarks: the entry scripts/bench runs (`python scripts/benchmarks ARGS`), end to
end on its cheapest group (the hooks rows: git and git-mvm only). Nothing here is timed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ENTRY = ROOT / "scripts" / "benchmarks"


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ENTRY), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)


def test_help_names_every_group() -> None:
    proc = bench("--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: scripts/bench")
    for word in ("--quick", "--only", "--no-write", "--remote", "--registry", "--storage",
                 "add-file"):
        assert word in proc.stdout
    for group in ("--remote", "--registry", "--storage"):
        sub = bench(group, "--help")
        assert sub.returncode == 0, sub.stderr
        assert sub.stdout.startswith(f"usage: scripts/bench {group}")


def test_remote_hooks_rows_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    proc = bench("--remote", "--only", "hooks", "--hook-reps", "1", "--no-write",
                 "--work", str(tmp_path / "work"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    expected = [("commit, no pointer change", tool)
                for tool in ("with gitmv hooks", "without hooks", "hook overhead")]
    expected += [(f"hook called directly: {hook}", "gitmv")
                 for hook in ("pre-commit (nothing staged)", "post-checkout (same commit)",
                              "post-merge (no pointer change)")]
    expected += [("hook in a repository without .mvm/", "gitmv")]
    lines = proc.stdout.splitlines()
    assert len(lines) == len(expected), proc.stdout
    for line, (workload, tool) in zip(lines, expected, strict=True):
        assert line.startswith(workload), line
        assert line[len(workload):].split()[: len(tool.split())] == tool.split(), line
    assert not out.exists()  # --no-write
    assert [p.name for p in (tmp_path / "work").iterdir()] == []  # the session is cleaned up


def _benchmarks() -> Any:
    if str(ROOT / "scripts") not in sys.path:
        sys.path.insert(0, str(ROOT / "scripts"))
    import benchmarks.s3
    import benchmarks.storage

    return benchmarks


def test_s3_rows_count_every_request_a_command_makes(tmp_path: Path) -> None:
    """The request counts of the S3 rows come from the server's own log."""
    bm = _benchmarks()
    from benchmarks.harness import hermetic_env

    with bm.s3.S3Server(hermetic_env(tmp_path / "home"), tmp_path / "moto.log") as s3:
        s3.create_bucket("bench")
        client = s3.client()
        mark = s3.mark()
        for i in range(5):
            client.put_object(Bucket="bench", Key=f"p/{i}", Body=b"x" * i)
        client.head_object(Bucket="bench", Key="p/1")
        client.get_object(Bucket="bench", Key="p/2")["Body"].read()
        counted = s3.requests(mark)
        assert counted == {"PUT": 5, "HEAD": 1, "GET": 1}
        assert bm.s3.describe(counted) == "7 requests (PUT 5, HEAD 1, GET 1)"
        assert s3.bytes_under("bench", "p/") == 0 + 1 + 2 + 3 + 4


def test_dedup_changes_change_what_they_say(tmp_path: Path) -> None:
    """The checkpoint rewrites exactly its changed tensors; append and insert add their bytes
    at the end and at the start, the rest of the file as it was."""
    bm = _benchmarks()
    sizes = bm.storage.Sizes(big=128 << 10, tensors=128, changed_tensors=13, edit=1000,
                             files=1, scale=())
    base = tmp_path / "base"
    base.write_bytes(os.urandom(sizes.big))
    old = base.read_bytes()
    for name, _what, changed, write in bm.storage._variants(sizes):
        out = tmp_path / name
        write(base, out)
        new = out.read_bytes()
        if name == "checkpoint":
            block = sizes.big // sizes.tensors
            differ = [i for i in range(sizes.tensors)
                      if new[i * block:(i + 1) * block] != old[i * block:(i + 1) * block]]
            assert len(differ) * block == changed and len(differ) == 13
            assert len(new) == len(old)
        elif name == "append":
            assert new[:len(old)] == old and len(new) - len(old) == changed
        else:
            assert new[changed:] == old and len(new) - len(old) == changed
