"""scripts/benchmarks: the entry scripts/bench runs (`python scripts/benchmarks ARGS`), end to
end on its cheapest group (the hooks rows: git and git-mvm only). Nothing here is timed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENTRY = ROOT / "scripts" / "benchmarks"


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ENTRY), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)


def test_help_names_every_group() -> None:
    proc = bench("--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: scripts/bench")
    for word in ("--quick", "--only", "--no-write", "--remote", "--registry", "add-file"):
        assert word in proc.stdout
    for group in ("--remote", "--registry"):
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
